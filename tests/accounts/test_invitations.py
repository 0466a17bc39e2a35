from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import uuid

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation

from accounts import services
from accounts.models import Invitation, Membership, User
from tests.personas import PERSONA_PASSWORD, make_user, verified_user

NEW = "newcomer@example.test"


def _invite(client, workspace, email=NEW, role="viewer", submission=None):
    data = {"email": email, "role": role}
    if submission:
        data["submission"] = str(submission)
    return client.post(reverse("accounts:member_invite", kwargs={"code": workspace.code}), data)


def _link(message) -> str:
    return re.search(r"https?://[^/\s]+(/invitations/[^/\s]+/)", message.body).group(1)


def _confirmation_link(message) -> str:
    return re.search(r"https?://[^/\s]+(/confirm-email/[^/\s]+/)", message.body).group(1)


SIGNUP = {
    "email": NEW,
    "display_name": "Newcomer",
    "password1": "a-long-enough-pass-42",
    "password2": "a-long-enough-pass-42",
}


@pytest.fixture
def invited(alice, workspace, login, mailoutbox):
    """alice invited NEW as a viewer; returns the path of the emailed link."""
    response = _invite(login(alice), workspace)
    assert response.status_code == 302
    return _link(mailoutbox[-1])


def test_inviting_emails_a_single_use_link_and_stores_only_its_hash(
    alice, workspace, login, mailoutbox
):
    response = _invite(login(alice), workspace, email="  NewComer@Example.test ")
    assert response["Location"] == reverse("accounts:members", kwargs={"code": workspace.code})
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [NEW]
    assert "Acme" in message.subject
    assert "Alice invited you" in message.body and "Viewer" in message.body
    token = _link(message).split("/")[2]
    invitation = Invitation.objects.get(workspace=workspace)
    assert invitation.email == NEW
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(Invitation.objects.values().get())
    lifetime = invitation.expires_at - invitation.created_at
    assert abs(lifetime - dt.timedelta(days=7)) < dt.timedelta(seconds=5)
    event = workspace.audit_events.get(action="member.invited")
    assert (event.target, event.details, event.actor) == (NEW, {"role": "viewer"}, alice)


def test_the_expiry_is_a_setting(alice, workspace, login, settings, mailoutbox):
    settings.INVITATION_EXPIRY_DAYS = 2
    _invite(login(alice), workspace)
    invitation = Invitation.objects.get(workspace=workspace)
    lifetime = invitation.expires_at - invitation.created_at
    assert abs(lifetime - dt.timedelta(days=2)) < dt.timedelta(seconds=5)
    assert "2 days" in mailoutbox[0].body


def test_inviting_a_member_again_is_refused(alice, bob, workspace, login, mailoutbox):
    response = _invite(login(alice), workspace, email="bob@example.test")
    assert response.status_code == 422
    assert b"already a member" in response.content
    assert mailoutbox == []


def test_a_new_invitation_replaces_the_pending_one(alice, workspace, login, mailoutbox, client):
    owner = login(alice)
    _invite(owner, workspace)
    first = _link(mailoutbox[0])
    _invite(owner, workspace, role="editor")
    second = _link(mailoutbox[1])
    assert client.get(first).status_code == 410
    assert client.get(second).status_code == 200


def test_a_double_click_on_send_sends_one_invitation(alice, workspace, login, mailoutbox, client):
    owner = login(alice)
    form = owner.get(reverse("accounts:member_invite", kwargs={"code": workspace.code}))
    submission = form.context["form"]["submission"].value()
    assert f'value="{submission}"' in form.content.decode()
    first = _invite(owner, workspace, submission=submission)
    second = _invite(owner, workspace, submission=submission)
    assert first.status_code == second.status_code == 302
    assert len(mailoutbox) == 1
    assert Invitation.objects.filter(workspace=workspace).count() == 1
    assert client.get(_link(mailoutbox[0])).status_code == 200
    # A fresh form is a fresh submission.
    assert owner.get(form.request["PATH_INFO"]).context["form"]["submission"].value() != submission


def test_a_failed_send_can_be_retried_with_the_same_form(alice, workspace, settings, db):
    request = RequestFactory().post("/")
    submission = uuid.uuid4()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens there
    kwargs = dict(
        workspace=workspace,
        email=NEW,
        role="viewer",
        inviter=alice,
        request=request,
        submission=submission,
    )
    with pytest.raises(ValidationError, match="could not be sent"):
        services.invitation_create(**kwargs)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    invitation, token = services.invitation_create(**kwargs)
    assert token is not None and len(mail.outbox) == 1
    assert invitation.revoked_at is None


def test_an_invalid_address_is_refused(alice, workspace, login):
    response = _invite(login(alice), workspace, email="not-an-email")
    assert response.status_code == 422
    assert not Invitation.objects.exists()


def test_a_failing_mail_server_leaves_no_usable_invitation(alice, workspace, settings, db):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens there
    request = RequestFactory().post("/")
    with pytest.raises(ValidationError, match="could not be sent"):
        services.invitation_create(
            workspace=workspace, email=NEW, role="viewer", inviter=alice, request=request
        )
    assert Invitation.objects.get().revoked_at is not None


def test_logged_out_the_link_offers_sign_up_or_log_in_and_names_the_address(client, invited):
    response = client.get(invited)
    assert response.status_code == 200
    text = response.content.decode()
    assert "Join “Acme”" in text
    assert NEW in text
    token = invited.split("/")[2]
    assert f"/signup/?invitation={token}" in text
    assert "/login/?next=%2Finvitations%2F" in text


def test_signing_up_from_the_link_joins_once_the_address_is_confirmed(
    client, invited, workspace, mailoutbox
):
    token = invited.split("/")[2]
    signup = client.get(f"{reverse('account_signup')}?invitation={token}")
    assert f'value="{NEW}"'.encode() in signup.content
    response = client.post(f"{reverse('account_signup')}?invitation={token}", SIGNUP)
    assert response.status_code == 302
    user = User.objects.get(email=NEW)
    # Signed up, but not a member: the address is not verified yet.
    assert not Membership.objects.filter(workspace=workspace, user=user).exists()
    invitation = Invitation.objects.get()
    assert invitation.held_for == user and invitation.accepted_at is None
    sent = client.get(response["Location"]).content.decode()
    assert f"follow the link we emailed to {NEW} to join “Acme”" in sent

    confirm = _confirmation_link(mailoutbox[-1])
    assert mailoutbox[-1].to == [NEW]
    assert client.get(confirm).status_code == 200
    joined = client.post(confirm)
    assert joined["Location"] == reverse("accounts:workspace", kwargs={"code": workspace.code})
    assert Membership.objects.get(workspace=workspace, user=user).role == "viewer"
    invitation.refresh_from_db()
    assert invitation.accepted_by == user and invitation.accepted_at is not None
    event = workspace.audit_events.get(action="member.joined")
    assert (event.actor, event.target) == (user, NEW)
    page = client.get(joined["Location"]).content.decode()
    assert "You joined “Acme” as Viewer" in page
    assert 'data-testid="verify-banner"' not in page


def test_the_confirmation_page_does_not_offer_to_send_the_link_again(client, db, mailoutbox):
    """The page the link opens confirms the address: the banner's "send the link again" above
    its Confirm button only confuses."""
    client.post(reverse("account_signup"), SIGNUP)
    client.post(reverse("account_login"), {"login": NEW, "password": SIGNUP["password1"]})
    page = client.get(_confirmation_link(mailoutbox[-1]))
    assert page.status_code == 200
    assert 'data-testid="verify-banner"' not in page.content.decode()
    assert 'data-testid="verify-banner"' in client.get(reverse("home")).content.decode()


def test_a_forwarded_link_gives_a_stranger_no_membership(
    client, invited, workspace, mailoutbox, settings
):
    """Whoever holds the link may make an account *for* the invited address (even with sign-up
    closed), but without the mailbox it stays unverified, and joins nothing."""
    settings.ACCOUNT_SIGNUP_OPEN = False
    token = invited.split("/")[2]
    # Literal paths: the same requests the hand-written sign-up took, where this attack worked.
    response = client.post(f"/signup/?invitation={token}", SIGNUP)
    assert response.status_code == 302
    stranger = User.objects.get(email=NEW)
    # Logging in (the address unverified) and pressing Accept does not help either.
    client.post(reverse("account_login"), {"login": NEW, "password": SIGNUP["password1"]})
    assert int(client.session["_auth_user_id"]) == stranger.pk
    client.post(invited)
    assert not Membership.objects.filter(workspace=workspace, user=stranger).exists()
    assert Invitation.objects.get().accepted_at is None
    assert Membership.objects.filter(user=stranger).count() == 1  # the personal workspace only
    assert not services.email_verified(user=stranger)

    # The real owner of the address clicks the verification link in their own browser: it
    # asks them to log in as that account (they cannot: it is the stranger's password), and
    # confirms nothing meanwhile.
    confirm = _confirmation_link(mailoutbox[-1])
    from django.test import Client

    owner_browser = Client()
    for method in ("get", "post"):
        answer = getattr(owner_browser, method)(confirm)
        assert answer.status_code == 302
        assert answer["Location"].startswith(reverse("account_login"))
    assert not services.email_verified(user=stranger)
    assert not Membership.objects.filter(workspace=workspace, user=stranger).exists()


def test_a_verification_link_opened_as_another_account_confirms_nothing(
    client, invited, charlie, login, mailoutbox
):
    token = invited.split("/")[2]
    client.post(f"{reverse('account_signup')}?invitation={token}", SIGNUP)
    confirm = _confirmation_link(mailoutbox[-1])
    response = login(charlie).post(confirm)
    assert response.status_code == 403
    assert b"another account" in response.content
    assert not services.email_verified(user=User.objects.get(email=NEW))


def test_an_unverified_account_cannot_join_even_through_the_service(invited, workspace):
    user = make_user(NEW)
    invitation = Invitation.objects.get()
    with pytest.raises(ValidationError) as error:
        services.invitation_accept(invitation=invitation, user=user)
    assert error.value.code == "unverified"
    assert not Membership.objects.filter(workspace=workspace, user=user).exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None  # still usable once the address is verified
    assert not workspace.audit_events.filter(action="member.joined").exists()


def test_an_unverified_account_pressing_accept_joins_after_confirming(
    invited, workspace, login, mailoutbox
):
    user = make_user(NEW)
    client = login(user)
    page = client.get(invited)
    assert b"Accept invitation" in page.content
    assert b"Your email address is not confirmed yet" in page.content
    response = client.post(invited, follow=True)
    assert b"Almost there" in response.content
    assert not Membership.objects.filter(workspace=workspace, user=user).exists()
    assert Invitation.objects.get().held_for == user
    client.post(_confirmation_link(mailoutbox[-1]))
    assert Membership.objects.filter(workspace=workspace, user=user).exists()


def test_a_verified_account_with_the_address_accepts_in_one_click(invited, workspace, login):
    user = verified_user(NEW)
    response = login(user).post(invited)
    assert response["Location"] == reverse("accounts:workspace", kwargs={"code": workspace.code})
    assert Membership.objects.get(workspace=workspace, user=user).role == "viewer"


def test_a_withdrawn_invitation_is_not_accepted_on_confirmation(
    client, invited, workspace, mailoutbox
):
    token = invited.split("/")[2]
    client.post(f"{reverse('account_signup')}?invitation={token}", SIGNUP)
    Invitation.objects.update(revoked_at=dt.datetime.now(tz=dt.UTC))
    response = client.post(_confirmation_link(mailoutbox[-1]))
    assert response.status_code == 302
    assert services.email_verified(user=User.objects.get(email=NEW))
    assert not Membership.objects.filter(workspace=workspace, user__email=NEW).exists()


def test_logging_in_from_the_link_comes_back_to_it(client, invited, workspace):
    verified_user(NEW)
    login_url = f"{reverse('account_login')}?next={invited}"
    response = client.post(login_url, {"login": NEW, "password": PERSONA_PASSWORD, "next": invited})
    assert response["Location"] == invited
    assert client.post(invited).status_code == 302
    assert Membership.objects.filter(workspace=workspace, user__email=NEW).exists()


def test_posting_to_the_link_logged_out_asks_to_log_in(client, invited):
    response = client.post(invited)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not Membership.objects.filter(user__email=NEW).exists()


def test_the_link_works_once(client, invited, charlie, login):
    verified_user(NEW)
    newcomer = login(User.objects.get(email=NEW))
    assert newcomer.post(invited).status_code == 302
    again = newcomer.get(invited)
    assert again.status_code == 410
    assert b"already been used" in again.content
    stranger = client.get(invited)
    assert stranger.status_code == 410
    assert b"Acme" not in stranger.content  # a dead link says nothing about the workspace


def test_another_account_cannot_accept(invited, charlie, login, workspace):
    client = login(charlie)
    page = client.get(invited)
    assert page.status_code == 200
    assert b"sent to newcomer@example.test, but you are logged in as charlie@" in page.content
    assert b"Accept invitation" not in page.content
    response = client.post(invited)
    assert response.status_code == 422
    assert not Membership.objects.filter(workspace=workspace, user=charlie).exists()
    assert Invitation.objects.get().accepted_at is None


def test_an_expired_link_gets_a_sentence(client, invited):
    verified_user(NEW)
    with time_machine.travel(dt.timedelta(days=8)):
        response = client.get(invited)
        assert response.status_code == 410
        assert b"has expired" in response.content
        client.force_login(User.objects.get(email=NEW))
        assert client.post(invited).status_code == 410
    assert not Membership.objects.filter(user__email=NEW, workspace__name="Acme").exists()


def test_a_withdrawn_link_gets_a_sentence(client, invited, alice, workspace, login):
    invitation = Invitation.objects.get()
    response = login(alice).post(
        reverse(
            "accounts:invitation_revoke",
            kwargs={"code": workspace.code, "invitation_code": invitation.code},
        )
    )
    assert response.status_code == 302
    assert workspace.audit_events.filter(action="member.invitation_revoked").exists()
    page = client.get(invited)
    assert page.status_code == 410
    assert b"withdrawn" in page.content


def test_withdrawing_twice_says_so(alice, invited, workspace, login):
    invitation = Invitation.objects.get()
    url = reverse(
        "accounts:invitation_revoke",
        kwargs={"code": workspace.code, "invitation_code": invitation.code},
    )
    client = login(alice)
    client.post(url)
    response = client.post(url, follow=True)
    assert b"already accepted or revoked" in response.content


def test_a_made_up_link_is_a_404_with_a_sentence(client, db):
    response = client.get(reverse("accounts:invitation", args=["made-up-token"]))
    assert response.status_code == 404
    assert b"not valid" in response.content


def test_a_member_accepting_keeps_the_higher_role(alice, bob, workspace, login, mailoutbox):
    # bob is an editor; an invitation as viewer does not demote him.
    owner = login(alice)
    Membership.objects.filter(user=bob, workspace=workspace).delete()
    _invite(owner, workspace, email="bob@example.test", role="viewer")
    link = _link(mailoutbox[-1])
    Membership.objects.create(user=bob, workspace=workspace, role="editor")
    response = login(bob).post(link, follow=True)
    assert b"already a member" in response.content
    assert Membership.objects.get(user=bob, workspace=workspace).role == "editor"


def test_a_member_accepting_a_higher_role_is_upgraded(alice, vera, workspace, login, mailoutbox):
    owner = login(alice)
    Membership.objects.filter(user=vera, workspace=workspace).delete()
    _invite(owner, workspace, email="vera@example.test", role="editor")
    link = _link(mailoutbox[-1])
    Membership.objects.create(user=vera, workspace=workspace, role="viewer")
    login(vera).post(link)
    assert Membership.objects.get(user=vera, workspace=workspace).role == "editor"


def test_pending_invitations_are_listed_for_owners(alice, invited, workspace, login):
    text = (
        login(alice)
        .get(reverse("accounts:members", kwargs={"code": workspace.code}))
        .content.decode()
    )
    assert NEW in text
    assert "Withdraw" in text


def test_the_invitation_mail_is_sent_once(alice, workspace, login):
    _invite(login(alice), workspace)
    assert len(mail.outbox) == 1


def test_a_second_click_on_accept_lands_in_the_workspace_too(invited, workspace, login):
    newcomer = login(verified_user(NEW))
    home = reverse("accounts:workspace", kwargs={"code": workspace.code})
    assert newcomer.post(invited)["Location"] == home
    again = newcomer.post(invited)  # the double click's second POST, after the first committed
    assert again["Location"] == home
    assert Membership.objects.filter(workspace=workspace, user__email=NEW).count() == 1
    assert workspace.audit_events.filter(action="member.joined").count() == 1
    assert newcomer.get(invited).status_code == 410  # the link itself stays used


def test_two_clicks_on_accept_at_once_join_once_and_both_land_in_the_workspace(
    monkeypatch, invited, workspace, login
):
    user = verified_user(NEW)
    original = services.invitation_for_token

    def the_other_click_wins_meanwhile(*, token):
        stale = original(token=token)  # still pending when this request read it
        services.invitation_accept(invitation=original(token=token), user=user)
        return stale

    monkeypatch.setattr(services, "invitation_for_token", the_other_click_wins_meanwhile)
    response = login(user).post(invited)
    assert response["Location"] == reverse("accounts:workspace", kwargs={"code": workspace.code})
    assert Membership.objects.filter(workspace=workspace, user=user).count() == 1


def test_someone_else_posting_a_used_link_still_gets_410(invited, workspace, charlie, login):
    newcomer = login(verified_user(NEW))
    newcomer.post(invited)
    assert login(charlie).post(invited).status_code == 410
    assert not Membership.objects.filter(workspace=workspace, user=charlie).exists()


def test_a_second_click_racing_the_first_returns_the_first_invitation(
    alice, workspace, monkeypatch, mailoutbox
):
    # The second request passed the "already made?" check before the first one committed; the
    # unique submission stops it at the insert, and it answers with the first invitation.
    send = functools.partial(
        services.invitation_create,
        workspace=workspace,
        email=NEW,
        role="viewer",
        inviter=alice,
        request=RequestFactory().post("/"),
        submission=uuid.uuid4(),
    )
    first, _ = send()
    real_lookup = services._invitation_of_submission
    lookups = []

    def lookup(ws, sub):
        lookups.append(sub)
        return None if len(lookups) == 1 else real_lookup(ws, sub)

    monkeypatch.setattr(services, "_invitation_of_submission", lookup)
    again, token = send()
    assert again == first and token is None
    assert len(lookups) == 2  # the early check, then the one after the refused insert
    assert len(mailoutbox) == 1
    first.refresh_from_db()
    assert first.revoked_at is None  # the loser's "withdraw older links" was rolled back


@pytest.mark.parametrize("since", ["withdrawn", "accepted"])
def test_sending_an_old_form_again_after_its_invitation_ended_says_so(
    since, alice, workspace, login, mailoutbox
):
    """The browser's back button, then "Send" again: the form's submission id belongs to an
    invitation that was withdrawn or accepted since. A sentence (422), not a 500, and nobody is
    invited anew."""
    owner = login(alice)
    submission = uuid.uuid4()
    assert _invite(owner, workspace, submission=submission).status_code == 302
    invitation = Invitation.objects.get(workspace=workspace)
    if since == "withdrawn":
        services.invitation_revoke(invitation=invitation, actor=alice)
        sentence = f"that invitation to {NEW} was withdrawn since"
    else:
        newcomer = verified_user(NEW)
        services.invitation_accept(invitation=invitation, user=newcomer)
        sentence = f"{NEW} has accepted that invitation since"
    again = _invite(owner, workspace, submission=submission)
    assert again.status_code == 422
    assert sentence in again.content.decode()
    assert len(mailoutbox) == 1
    assert Invitation.objects.filter(workspace=workspace).count() == 1


def test_the_invitation_email_is_in_the_invitees_language_when_they_have_an_account(
    alice, charlie, workspace, login, mailoutbox
):
    alice.language = "en"
    alice.save(update_fields=["language"])
    charlie.language = "id"
    charlie.save(update_fields=["language"])
    assert _invite(login(alice), workspace, email=charlie.email).status_code == 302
    assert "Anda diundang" in mailoutbox[-1].subject


def test_the_invitation_email_is_in_the_inviters_language_for_a_new_address(
    alice, workspace, login, mailoutbox
):
    alice.language = "id"
    alice.save(update_fields=["language"])
    # Whatever language is active where the service runs (English here), the email is in the
    # inviter's: the only language known to suit someone who chose to invite this address.
    with translation.override("en"):
        services.invitation_create(
            workspace=workspace,
            email=NEW,
            role="viewer",
            inviter=alice,
            request=RequestFactory().post("/"),
        )
    assert "Anda diundang" in mailoutbox[-1].subject
