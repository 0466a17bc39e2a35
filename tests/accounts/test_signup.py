from __future__ import annotations

import re
import statistics
import time

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.models import AuditEvent, Membership, User, Workspace

SIGNUP = {
    "email": "New.Person@Example.test",
    "display_name": "New Person",
    "password1": "a-long-enough-pass-42",
    "password2": "a-long-enough-pass-42",
    "timezone": "Asia/Jakarta",
}


def _page(response, address: str) -> str:
    """A page as the visitor reads it: the address typed and the CSRF token aside."""
    text = response.content.decode().replace(address, "ADDRESS")
    return re.sub(r'(csrftoken": "|csrfmiddlewaretoken" value=")[^"]+', r"\1…", text)


def _link(message) -> str:
    return next(w for w in message.body.split() if "/confirm-email/" in w).split("testserver")[-1]


def test_signing_up_sends_a_link_and_following_it_logs_in(client, db, mailoutbox):
    response = client.post(reverse("account_signup"), SIGNUP)
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert not client.session.get("_auth_user_id")  # not yet: a taken address gets this too
    user = User.objects.get(email="new.person@example.test")  # stored lowercased
    assert user.timezone == "Asia/Jakarta"
    membership = Membership.objects.get(user=user)
    assert membership.role == Membership.Role.OWNER
    assert membership.workspace.kind == Workspace.Kind.PERSONAL
    assert membership.workspace.name == "New Person"
    # The link, in the browser that signed up, confirms the address and logs in.
    link = _link(mailoutbox[-1])
    assert client.get(link).status_code == 200
    confirmed = client.post(link)
    assert confirmed.status_code == 302 and confirmed["Location"] == reverse("home")
    assert int(client.session["_auth_user_id"]) == user.pk
    assert services.email_verified(user=user)
    home = client.get(reverse("home"))
    assert home.status_code == 200
    assert b"New Person" in home.content


def test_sign_up_uses_the_language_the_visitor_chose(client, db):
    client.cookies["django_language"] = "id"
    client.post(reverse("account_signup"), SIGNUP)
    assert User.objects.get(email="new.person@example.test").language == "id"


def test_an_unknown_browser_time_zone_falls_back_to_utc(client, db):
    client.post(reverse("account_signup"), {**SIGNUP, "timezone": "Mars/Olympus"})
    assert User.objects.get(email="new.person@example.test").timezone == "UTC"


def test_signing_up_sends_a_verification_link_and_leaves_the_address_unverified(
    client, db, mailoutbox
):
    client.post(reverse("account_signup"), SIGNUP)
    user = User.objects.get(email="new.person@example.test")
    address = EmailAddress.objects.get(user=user)
    assert (address.email, address.verified, address.primary) == (user.email, False, True)
    assert not services.email_verified(user=user)
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["new.person@example.test"]
    assert "/confirm-email/" in mailoutbox[0].body
    # Logging in works meanwhile, with the banner and its button.
    client.post(reverse("account_login"), {"login": user.email, "password": SIGNUP["password1"]})
    home = client.get(reverse("home")).content.decode()
    assert 'data-testid="verify-banner"' in home
    assert "Send the link again" in home


def test_sign_up_with_a_taken_address_looks_like_a_new_one_and_emails_its_owner(
    client, alice, mailoutbox
):
    new = client.post(reverse("account_signup"), SIGNUP, follow=True)
    taken = Client().post(
        reverse("account_signup"), {**SIGNUP, "email": "ALICE@example.test"}, follow=True
    )
    assert taken.status_code == new.status_code == 200
    assert taken.redirect_chain == new.redirect_chain
    assert _page(taken, "alice@example.test") == _page(new, "new.person@example.test")
    assert b"already exists" not in taken.content
    assert User.objects.filter(email__iexact="alice@example.test").count() == 1
    # Alice, not the visitor, learns that someone tried: with a way to log in or reset.
    to_alice = [m for m in mailoutbox if m.to == ["alice@example.test"]]
    assert len(to_alice) == 1
    assert "already" in to_alice[0].body and "/password/reset/" in to_alice[0].body


def test_password_reset_answers_the_same_for_an_address_without_an_account(
    client, alice, mailoutbox
):
    known = client.post(
        reverse("account_reset_password"), {"email": "alice@example.test"}, follow=True
    )
    unknown = Client().post(
        reverse("account_reset_password"), {"email": "nobody@example.test"}, follow=True
    )
    assert known.status_code == unknown.status_code == 200
    assert known.redirect_chain == unknown.redirect_chain
    assert _page(known, "alice@example.test") == _page(unknown, "nobody@example.test")
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.test", "nobody@example.test"]


def test_sign_up_applies_the_password_validators(client, db):
    response = client.post(
        reverse("account_signup"), {**SIGNUP, "password1": "123", "password2": "123"}
    )
    assert response.status_code == 422
    assert not User.objects.filter(email="new.person@example.test").exists()
    assert b"too short" in response.content


def test_a_logged_in_user_is_sent_home_from_sign_up(alice, login):
    response = login(alice).get(reverse("account_signup"))
    assert response.status_code == 302


def test_sign_up_can_be_switched_off(client, db, settings):
    settings.ACCOUNT_SIGNUP_OPEN = False
    response = client.get(reverse("account_signup"))
    assert response.status_code == 403
    assert b"Sign-up is closed" in response.content
    response = client.post(reverse("account_signup"), SIGNUP)
    assert response.status_code == 403
    # A made-up invitation token opens nothing either.
    response = client.post(f"{reverse('account_signup')}?invitation=made-up", SIGNUP)
    assert response.status_code == 403
    assert not User.objects.filter(email="new.person@example.test").exists()
    assert b"Create an account" not in client.get(reverse("account_login")).content


def test_the_login_page_offers_sign_up_when_open(client, db):
    assert b"Create an account" in client.get(reverse("account_login")).content


@pytest.mark.parametrize("how", ["create_user", "create_superuser", "createsuperuser"])
def test_every_new_user_gets_a_personal_workspace_however_created(db, how):
    if how == "createsuperuser":
        call_command("createsuperuser", email="root@example.test", interactive=False)
        user = User.objects.get(email="root@example.test")
    else:
        user = getattr(User.objects, how)(email="x@example.test", password="whatever-123")
    memberships = Membership.objects.filter(user=user)
    assert memberships.count() == 1
    assert memberships.get().workspace.kind == Workspace.Kind.PERSONAL
    assert memberships.get().is_owner
    assert AuditEvent.objects.filter(
        workspace=memberships.get().workspace, action=AuditEvent.Action.WORKSPACE_CREATED
    ).exists()


def test_saving_a_user_again_makes_no_second_workspace(alice):
    alice.display_name = "Alice A."
    alice.save()
    assert Workspace.objects.filter(kind="personal", memberships__user=alice).count() == 1


def test_personas_each_have_a_personal_workspace_and_the_right_role(
    workspace, alice, bob, vera, charlie, staff
):
    assert Membership.objects.get(user=alice, workspace=workspace).role == "owner"
    assert Membership.objects.get(user=bob, workspace=workspace).role == "editor"
    assert Membership.objects.get(user=vera, workspace=workspace).role == "viewer"
    assert not Membership.objects.filter(user=charlie, workspace=workspace).exists()
    assert not Membership.objects.filter(user=staff, workspace=workspace).exists()
    for user in (alice, bob, vera, charlie, staff):
        assert Membership.objects.filter(user=user, workspace__kind="personal").count() == 1


def test_a_double_click_on_sign_up_makes_one_account_and_no_500(client, monkeypatch, db):
    """Both clicks passed the form's "no such account yet" check; the second finds the account
    the first just made at the insert, and answers as for any taken address."""
    from allauth.account.forms import BaseSignupForm

    # The first click's account, made after this click's form found the address free.
    User.objects.create_user(email="new.person@example.test", password="x-other-click-1")
    monkeypatch.setattr(BaseSignupForm, "validate_unique_email", lambda self, value: value)
    response = client.post(reverse("account_signup"), SIGNUP, follow=True)
    # The answer any sign-up gets: nothing says the address was taken.
    assert response.redirect_chain == [(reverse("account_email_verification_sent"), 302)]
    assert b"already exists" not in response.content
    assert User.objects.filter(email="new.person@example.test").count() == 1
    assert (
        Workspace.objects.filter(
            kind="personal", memberships__user__email="new.person@example.test"
        ).count()
        == 1
    )


def test_an_address_longer_than_its_column_is_refused_with_a_sentence(client, db):
    # allauth's email field takes 320 characters; the column holds 254 (a 500 on PostgreSQL).
    email = "x" * 250 + "@example.test"
    response = client.post(reverse("account_signup"), {**SIGNUP, "email": email})
    assert response.status_code == 422
    assert b"at most 254 characters" in response.content
    assert not User.objects.filter(email=email).exists()


def test_changing_to_an_overlong_address_is_refused_too(alice, login):
    email = "x" * 250 + "@example.test"
    response = login(alice).post(reverse("account_email"), {"action_add": "", "email": email})
    assert b"at most 254 characters" in response.content
    assert not EmailAddress.objects.filter(email=email).exists()


def test_the_banner_goes_once_the_address_is_confirmed_in_another_browser(db, login):
    from tests.personas import make_user, verify

    user = make_user("elsewhere@example.test")
    client = login(user)
    assert b'data-testid="verify-banner"' in client.get(reverse("home")).content
    verify(user)  # the link was opened in the other browser
    response = client.post(reverse("accounts:email_verification_resend"), follow=True)
    assert b"already confirmed" in response.content
    assert b'data-testid="verify-banner"' not in response.content


class SlowHasher(PBKDF2PasswordHasher):
    """A hasher about as costly, relative to the rest of sign-up, as production's (the suite's
    own is MD5, which costs nothing)."""

    algorithm = "pbkdf2_slow_test"
    iterations = 500_000


def test_a_taken_address_takes_about_as_long_as_a_new_one(client, db, alice, settings):
    """Sign-up must not tell by its speed who has an account: a taken address hashes the
    password too. Samples alternate (a loaded machine slows both alike); medians compared."""
    settings.PASSWORD_HASHERS = [f"{__name__}.SlowHasher"]
    settings.ACCOUNT_RATE_LIMITS = False
    taken, new = [], []
    for n in range(5):
        for address, times in ((alice.email, taken), (f"someone{n}@example.test", new)):
            started = time.perf_counter()
            response = Client().post(reverse("account_signup"), {**SIGNUP, "email": address})
            times.append(time.perf_counter() - started)
            assert response["Location"] == reverse("account_email_verification_sent")
    assert User.objects.filter(email__startswith="someone").count() == 5
    print(f"taken {statistics.median(taken):.3f} s, new {statistics.median(new):.3f} s")
    assert statistics.median(taken) >= 0.5 * statistics.median(new), (taken, new)
