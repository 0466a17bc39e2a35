from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command
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


def test_signing_up_logs_in_and_gives_a_personal_workspace(client, db):
    response = client.post(reverse("account_signup"), SIGNUP)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    user = User.objects.get(email="new.person@example.test")  # stored lowercased
    assert user.timezone == "Asia/Jakarta"
    membership = Membership.objects.get(user=user)
    assert membership.role == Membership.Role.OWNER
    assert membership.workspace.kind == Workspace.Kind.PERSONAL
    assert membership.workspace.name == "New Person"
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
    # Signed in meanwhile, with the banner and its button.
    home = client.get(reverse("home")).content.decode()
    assert 'data-testid="verify-banner"' in home
    assert "Send the link again" in home


def test_sign_up_refuses_an_email_already_in_use(client, alice, mailoutbox):
    response = client.post(reverse("account_signup"), {**SIGNUP, "email": "ALICE@example.test"})
    assert response.status_code == 422
    assert b"already exists" in response.content
    assert User.objects.filter(email__iexact="alice@example.test").count() == 1
    assert mailoutbox == []


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
    the first just made at the insert, and sends this one to log in."""
    from allauth.account.forms import BaseSignupForm

    # The first click's account, made after this click's form found the address free.
    User.objects.create_user(email="new.person@example.test", password="x-other-click-1")
    monkeypatch.setattr(BaseSignupForm, "validate_unique_email", lambda self, value: value)
    response = client.post(reverse("account_signup"), SIGNUP, follow=True)
    assert response.redirect_chain == [(reverse("account_login"), 302)]
    assert b"An account with this email already exists" in response.content
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
