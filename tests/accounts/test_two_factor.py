"""Two-factor sign-in (django-allauth's TOTP): turning it on, logging in with a code, and a
workspace owner requiring it of every member; staff need it in production."""

from __future__ import annotations

import time

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from accounts import services
from accounts.models import AuditEvent, Workspace
from tests.personas import PERSONA_PASSWORD

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def totp_code(secret: str = SECRET) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def with_two_factor(user):
    TOTP.activate(user, SECRET)
    return user


def _require(client, workspace, on=True):
    data = {"require_2fa": "on"} if on else {}
    url = reverse("accounts:workspace_require_2fa", kwargs={"code": workspace.code})
    return client.post(url, data, follow=True)


def test_logging_in_with_two_factor_on_asks_for_a_code(client, alice):
    with_two_factor(alice)
    response = client.post(
        reverse("account_login"), {"login": alice.email, "password": PERSONA_PASSWORD}
    )
    assert response["Location"] == reverse("mfa_authenticate")
    assert not client.session.get("_auth_user_id")  # the password alone is not enough
    wrong = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert wrong.status_code == 422 and not client.session.get("_auth_user_id")
    done = client.post(reverse("mfa_authenticate"), {"code": totp_code()})
    assert done.status_code == 302
    assert int(client.session["_auth_user_id"]) == alice.pk


def test_the_code_page_says_a_recovery_code_works_too_and_it_does(client, alice):
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    with_two_factor(alice)
    codes = RecoveryCodes.activate(alice).generate_codes()
    client.post(reverse("account_login"), {"login": alice.email, "password": PERSONA_PASSWORD})
    page = client.get(reverse("mfa_authenticate"))
    assert b"Lost your phone? Enter one of your recovery codes instead." in page.content
    done = client.post(reverse("mfa_authenticate"), {"code": codes[0]})
    assert done.status_code == 302
    assert int(client.session["_auth_user_id"]) == alice.pk


def test_the_profile_says_when_two_factor_is_on(alice, login):
    with_two_factor(alice)
    page = login(alice).get(reverse("accounts:profile")).content.decode()
    assert "Logging in asks for a code from your authenticator app." in page
    assert reverse("mfa_index") in page


def test_an_owner_requires_two_factor_and_it_is_audited(alice, workspace, login):
    with_two_factor(alice)
    response = _require(login(alice), workspace)
    assert b"Every member now needs two-factor sign-in" in response.content
    workspace.refresh_from_db()
    assert workspace.require_2fa
    event = workspace.audit_events.get(action=AuditEvent.Action.WORKSPACE_2FA_REQUIRED)
    assert event.actor == alice
    _require(login(alice), workspace, on=False)
    workspace.refresh_from_db()
    assert not workspace.require_2fa
    assert workspace.audit_events.filter(action=AuditEvent.Action.WORKSPACE_2FA_OPTIONAL).exists()


def test_an_owner_without_two_factor_must_turn_it_on_first(alice, workspace, login):
    response = _require(login(alice), workspace)
    assert b"Turn on two-factor sign-in for yourself first" in response.content
    workspace.refresh_from_db()
    assert not workspace.require_2fa


def test_only_owners_may_require_it_even_through_the_service(alice, bob, vera, workspace, login):
    assert _require(login(bob), workspace).status_code == 403
    assert _require(login(vera), workspace).status_code == 403
    with_two_factor(bob)
    with pytest.raises(PermissionDenied):  # the same 403 the view gives
        services.workspace_set_require_2fa(workspace=workspace, required=True, actor=bob)
    workspace.refresh_from_db()
    assert not workspace.require_2fa


def test_a_member_without_two_factor_is_sent_to_set_it_up(alice, bob, workspace, login):
    Workspace.objects.filter(pk=workspace.pk).update(require_2fa=True)
    client = login(bob)
    for name in ("accounts:workspace", "accounts:members", "accounts:audit"):
        response = client.get(reverse(name, kwargs={"code": workspace.code}))
        assert response.status_code == 302, name
        assert response["Location"] == reverse("mfa_index")
    page = client.get(reverse("mfa_index")).content.decode()
    assert "“Acme” asks every member to use two-factor sign-in" in page
    # htmx requests are redirected too, by header.
    htmx = client.get(
        reverse("accounts:members", kwargs={"code": workspace.code}), HTTP_HX_REQUEST="true"
    )
    assert htmx["HX-Redirect"] == reverse("mfa_index")
    # Their personal workspace does not require it.
    personal = Workspace.objects.get(kind="personal", memberships__user=bob)
    assert (
        client.get(reverse("accounts:workspace", kwargs={"code": personal.code})).status_code == 200
    )
    # With two-factor on, the workspace opens.
    with_two_factor(bob)
    assert (
        client.get(reverse("accounts:workspace", kwargs={"code": workspace.code})).status_code
        == 200
    )


def test_outsiders_still_get_404_from_a_workspace_that_requires_two_factor(
    charlie, workspace, login
):
    Workspace.objects.filter(pk=workspace.pk).update(require_2fa=True)
    response = login(charlie).get(reverse("accounts:workspace", kwargs={"code": workspace.code}))
    assert response.status_code == 404


def test_staff_need_two_factor_for_oversight_in_production(staff, workspace, login, settings):
    settings.STAFF_REQUIRE_2FA = True
    client = login(staff)
    for url in (
        reverse("oversight:index"),
        reverse("oversight:audit"),
        reverse("accounts:workspace", kwargs={"code": workspace.code}),
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == reverse("mfa_index")
    with_two_factor(staff)
    assert client.get(reverse("oversight:index")).status_code == 200


def test_staff_need_no_two_factor_outside_production(staff, login, settings):
    settings.STAFF_REQUIRE_2FA = False
    assert login(staff).get(reverse("oversight:index")).status_code == 200


def test_the_production_setting_is_on_in_production(settings):
    from taisly_dash import settings as project_settings

    assert project_settings.STAFF_REQUIRE_2FA == project_settings.PRODUCTION


def test_staff_need_two_factor_for_the_admin_in_production(login, settings, db):
    from accounts.models import User

    root = User.objects.create_superuser(email="root@example.test", password="x")
    settings.STAFF_REQUIRE_2FA = True
    client = login(root)
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_index")
    with_two_factor(root)
    assert client.get("/admin/accounts/user/").status_code == 200


def test_staff_who_are_members_need_two_factor_for_staff_reads_in_production(
    staff, alice, workspace, login, settings, mailoutbox
):
    """A staff member who is also a viewer reads the owners' pages (audit log, pending
    invitations) as staff: in production that is oversight, and needs two-factor sign-in too."""
    from accounts.models import Membership

    login(alice).post(
        reverse("accounts:member_invite", kwargs={"code": workspace.code}),
        {"email": "pending@example.test", "role": "viewer"},
    )
    Membership.objects.create(workspace=workspace, user=staff, role="viewer")
    settings.STAFF_REQUIRE_2FA = True
    client = login(staff)
    audit = reverse("accounts:audit", kwargs={"code": workspace.code})
    members = reverse("accounts:members", kwargs={"code": workspace.code})
    assert client.get(audit).status_code == 403
    page = client.get(members)
    assert page.status_code == 200  # what any viewer sees
    assert b"pending@example.test" not in page.content
    with_two_factor(staff)
    assert client.get(audit).status_code == 200
    assert b"pending@example.test" in client.get(members).content


def test_a_pending_email_change_is_named_when_two_factor_waits_for_it(alice, login):
    """alice's address is verified; she asked to change it, so allauth refuses two-factor until
    the new one is confirmed. The sentence says that, not "verify your email address"."""
    client = login(alice)
    client.post(reverse("account_email"), {"action_add": "", "email": "alice.new@example.test"})
    page = client.get(reverse("mfa_activate_totp"), follow=True).content.decode()
    assert "until you have verified your email address" not in page
    assert "You asked to change your email address to alice.new@example.test." in page
    assert f'cancel the change on <a href="{reverse("account_email")}">the email page</a>' in page
    assert not alice.authenticator_set.exists()
    # Cancelling the change (allauth's "remove" of the pending address) lets her go on.
    client.post(reverse("account_email"), {"action_remove": "", "email": "alice.new@example.test"})
    page = client.get(reverse("mfa_activate_totp"), follow=True).content.decode()
    assert "You asked to change your email address" not in page
    assert 'name="code"' in page
