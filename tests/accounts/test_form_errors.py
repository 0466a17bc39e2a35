"""Every form that fails validation, or an action the service refuses, answers 422 with the
reason on the page, so htmx and tests can tell a refusal from a success (a 200 or a redirect).

Sign-up, log-in and password reset are django-allauth's views (accounts/views_auth.py makes
their refusals 422 too) and are tested in test_signup.py, test_login.py and here.
"""

from __future__ import annotations

import secrets

import pytest
from django.test import RequestFactory
from django.urls import reverse

from accounts import services
from accounts.models import Membership, TaislyConnection

pytestmark = pytest.mark.django_db


def _w(name: str, workspace, **kwargs) -> str:
    return reverse(name, kwargs={"code": workspace.code, **kwargs})


def _member(workspace, user) -> Membership:
    return Membership.objects.get(workspace=workspace, user=user)


CASES = {
    "profile": (
        lambda ws, alice: reverse("accounts:profile"),
        {"display_name": "Alice", "timezone": "Mars/Olympus", "language": "en"},
        "Mars/Olympus",
    ),
    "password change": (
        lambda ws, alice: reverse("account_change_password"),
        {"oldpassword": "wrong", "password1": "a-new-pass-77", "password2": "a-new-pass-77"},
        "Please type your current password.",
    ),
    "workspace create": (
        lambda ws, alice: reverse("accounts:workspace_create"),
        {"name": "   "},
        "This field is required",
    ),
    "workspace rename": (
        lambda ws, alice: _w("accounts:workspace_rename", ws),
        {"name": ""},
        "This field is required",
    ),
    "workspace delete": (
        lambda ws, alice: _w("accounts:workspace_delete", ws),
        {"confirm_name": "Not Acme"},
        "That is not the workspace",
    ),
    "invite": (
        lambda ws, alice: _w("accounts:member_invite", ws),
        {"email": "not-an-address", "role": "viewer"},
        "Enter a valid email address",
    ),
    "role: unknown": (
        lambda ws, alice: _w("accounts:member_role", ws, member_code=_member(ws, alice).code),
        {"role": "emperor"},
        "Choose a role",
    ),
    "role: last owner": (
        lambda ws, alice: _w("accounts:member_role", ws, member_code=_member(ws, alice).code),
        {"role": "viewer"},
        "always keeps at least one owner",
    ),
    "remove: last owner": (
        lambda ws, alice: _w("accounts:member_remove", ws, member_code=_member(ws, alice).code),
        {},
        "always keeps at least one owner",
    ),
    "key connect": (
        lambda ws, alice: _w("taisly:connect", ws),
        {"api_key": "not-a-key"},
        "does not look like a Taisly key",
    ),
    "key regenerate: no key": (
        lambda ws, alice: _w("taisly:regenerate", ws),
        {},
        "has no Taisly key connected",
    ),
    "key revoke: no key": (
        lambda ws, alice: _w("taisly:revoke", ws),
        {},
        "has no Taisly key connected",
    ),
    "key disconnect: no key": (
        lambda ws, alice: _w("taisly:disconnect", ws),
        {},
        "has no Taisly key connected",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_refused_form_answers_422_with_the_reason(case, alice, workspace, login):
    url, data, reason = CASES[case]
    response = login(alice).post(url(workspace, alice), data)
    assert response.status_code == 422
    text = response.content.decode()
    assert reason in text
    assert "<html" in text  # a whole page without JavaScript


def test_a_refused_role_change_with_htmx_answers_422_with_the_row(alice, workspace, login):
    url = _w("accounts:member_role", workspace, member_code=_member(workspace, alice).code)
    response = login(alice).post(url, {"role": "viewer"}, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert response.content.decode().strip().startswith("<tr ")
    assert b"always keeps at least one owner" in response.content


def test_regenerating_an_invalid_key_answers_422(alice, workspace, login):
    key = "taisly_" + secrets.token_hex(32)
    TaislyConnection.objects.create(
        workspace=workspace, api_key=key, key_hint=f"taisly_…{key[-4:]}", status="invalid"
    )
    response = login(alice).post(_w("taisly:regenerate", workspace))
    assert response.status_code == 422
    assert "cannot be regenerated" in response.content.decode()
    assert key not in response.content.decode()


def test_htmx_is_told_to_swap_422_answers(alice, workspace, login):
    # htmx 2 swaps no 4xx by default: base.html's htmx-config lets 422 through, before [45]...
    text = login(alice).get(_w("accounts:members", workspace)).content.decode()
    assert '{"code": "422", "swap": true' in text.replace("&quot;", '"')


def test_withdrawing_an_invitation_no_longer_pending_answers_422(alice, workspace, login):
    invitation, _token = services.invitation_create(
        workspace=workspace,
        email="new@example.test",
        role=Membership.Role.VIEWER,
        inviter=alice,
        request=RequestFactory().get("/"),
    )
    services.invitation_revoke(invitation=invitation, actor=alice)
    url = _w("accounts:invitation_revoke", workspace, invitation_code=invitation.code)
    response = login(alice).post(url)
    assert response.status_code == 422
    assert b"already accepted or revoked" in response.content


def test_allauths_own_pages_answer_a_refused_form_with_422(alice, client, login):
    """The two-factor code at log-in, turning two-factor on, email change and re-authentication
    are allauth's views, which answer 200: accounts.middleware makes their refusals 422 too."""
    from tests.accounts.test_two_factor import with_two_factor
    from tests.personas import PERSONA_PASSWORD, verified_user

    with_two_factor(alice)
    client.post(reverse("account_login"), {"login": alice.email, "password": PERSONA_PASSWORD})
    wrong_code = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert wrong_code.status_code == 422
    assert b"Incorrect code." in wrong_code.content

    dan = login(verified_user("dan@example.test"))
    assert (
        dan.post(reverse("account_email"), {"action_add": "", "email": "nope"}).status_code == 422
    )
    assert dan.post(reverse("account_reauthenticate"), {"password": "wrong"}).status_code == 422
    assert (
        dan.post(reverse("account_reauthenticate"), {"password": PERSONA_PASSWORD}).status_code
        == 302
    )
    dan.get(reverse("mfa_activate_totp"))
    assert dan.post(reverse("mfa_activate_totp"), {"code": "000000"}).status_code == 422
    # A page asked for (GET) is a 200 as ever.
    assert dan.get(reverse("account_email")).status_code == 200
