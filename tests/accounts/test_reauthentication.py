"""A borrowed session cannot take an account or a workspace over: changing the email address,
two-factor sign-in and the Taisly key, and seeing a webhook's secret, ask for the password (or a
two-factor code) again unless it was given in the last ACCOUNT_REAUTHENTICATION_TIMEOUT seconds
(issue 15, item 11). ``login(user, fresh=False)`` is a session whose password is long past."""

from __future__ import annotations

import datetime as dt
import secrets
import time

import pytest
import time_machine
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership, TaislyConnection
from posting.connection import keys
from posting.models import WebhookEndpoint
from tests.personas import PERSONA_PASSWORD

pytestmark = pytest.mark.django_db

REAUTH = reverse("account_reauthenticate")


def _asked(response, path: str) -> bool:
    """Sent to allauth's password page, which comes back to ``path`` afterwards."""
    return response.status_code == 302 and response["Location"].startswith(
        f"{REAUTH}?next={path.replace('/', '%2F')}"
    )


@pytest.fixture
def stored_key(workspace, alice) -> str:
    api_key = "taisly_" + secrets.token_hex(32)
    keys.connection_store(
        workspace=workspace,
        api_key=api_key,
        plan=TaislyConnection.Plan.STARTER,
        actor=alice,
        verified=True,
    )
    return api_key


def _key_url(name: str, workspace) -> str:
    return reverse(f"taisly:{name}", kwargs={"code": workspace.code})


def test_changing_the_email_address_asks_for_the_password_then_carries_on(alice, login, mailoutbox):
    client = login(alice, fresh=False)
    data = {"action_add": "", "email": "alice.new@example.test"}
    response = client.post(reverse("account_email"), data)
    assert _asked(response, reverse("account_email"))
    assert not EmailAddress.objects.filter(email="alice.new@example.test").exists()
    assert mailoutbox == []
    # A wrong password is refused; the right one carries out the change that was asked for.
    assert client.post(response["Location"], {"password": "wrong"}).status_code == 422
    client.post(response["Location"], {"password": PERSONA_PASSWORD})
    assert EmailAddress.objects.filter(email="alice.new@example.test", verified=False).exists()
    assert mailoutbox[-1].to == ["alice.new@example.test"]


def test_a_fresh_password_is_good_for_the_timeout_and_no_longer(alice, login, settings):
    settings.ACCOUNT_REAUTHENTICATION_TIMEOUT = 300
    client = login(alice, fresh=False)
    client.post(REAUTH, {"password": PERSONA_PASSWORD})
    data = {"action_add": "", "email": "alice.two@example.test"}
    later = timezone.now() + dt.timedelta(seconds=301)
    with time_machine.travel(later, tick=False):
        assert _asked(client.post(reverse("account_email"), data), reverse("account_email"))
    assert client.post(reverse("account_email"), data).status_code == 302
    assert EmailAddress.objects.filter(email="alice.two@example.test").exists()


def test_logging_in_long_ago_is_not_enough_to_turn_two_factor_on(alice, login):
    response = login(alice, fresh=False).get(reverse("mfa_activate_totp"))
    assert _asked(response, reverse("mfa_activate_totp"))


def test_a_two_factor_code_does_instead_of_the_password(alice, login):
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    TOTP.activate(alice, secret)
    client = login(alice, fresh=False)
    response = client.get(reverse("mfa_deactivate_totp"))
    assert response.status_code == 302 and "next=" in response["Location"]
    now_code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    client.post(reverse("mfa_reauthenticate"), {"code": now_code})
    assert client.get(reverse("mfa_deactivate_totp")).status_code == 200


def test_connecting_a_taisly_key_asks_first_and_never_keeps_the_key(
    alice, workspace, login, stored_key
):
    TaislyConnection.objects.filter(workspace=workspace).delete()
    client = login(alice, fresh=False)
    url = _key_url("connect", workspace)
    assert _asked(client.get(url), url)
    # A key POSTed from a session that was not asked: dropped, not stashed for a replay.
    response = client.post(url, {"api_key": stored_key})
    assert _asked(response, url)
    assert stored_key not in str(dict(client.session.items()))
    assert not TaislyConnection.objects.filter(workspace=workspace).exists()
    after = client.post(response["Location"], {"password": PERSONA_PASSWORD})
    assert after["Location"] == url  # back to the (empty) form, which opens now
    page = client.get(url)
    assert page.status_code == 200 and b'name="api_key"' in page.content
    assert b"Confirm it is you first" in page.content


@pytest.mark.parametrize("action", ["regenerate", "revoke", "disconnect"])
def test_every_key_action_asks_for_the_password_first(action, alice, workspace, login, stored_key):
    client = login(alice, fresh=False)
    url = _key_url(action, workspace)
    assert _asked(client.get(url), url)
    assert _asked(client.post(url), url)
    connection = TaislyConnection.objects.get(workspace=workspace)
    assert connection.status == TaislyConnection.Status.ACTIVE and connection.api_key == stored_key


def test_disconnecting_goes_on_once_the_password_is_given(alice, workspace, login, stored_key):
    client = login(alice, fresh=False)
    response = client.post(_key_url("disconnect", workspace))
    client.post(response["Location"], {"password": PERSONA_PASSWORD})  # replays the POST
    assert TaislyConnection.objects.get(workspace=workspace).api_key == ""


def test_a_fresh_session_acts_at_once(alice, workspace, login, stored_key):
    response = login(alice).post(_key_url("disconnect", workspace))
    assert response.status_code == 302
    assert response["Location"] == _key_url("detail", workspace)


def test_seeing_a_webhook_secret_asks_for_the_password(alice, workspace, login):
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace,
        url="https://hooks.example.test/in",
        format="json",
        secret="whsec_" + secrets.token_urlsafe(24),
    )
    url = reverse("posting:webhook", kwargs={"code": workspace.code, "endpoint": endpoint.code})
    stale = login(alice, fresh=False).get(url)
    assert _asked(stale, url)
    assert endpoint.secret not in stale.content.decode()
    fresh = login(alice).get(url)
    assert fresh.status_code == 200 and endpoint.secret in fresh.content.decode()


def test_outsiders_and_viewers_get_404_and_403_before_any_password(
    alice, vera, charlie, workspace, login, stored_key
):
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace, url="https://hooks.example.test/in", format="json"
    )
    urls = [_key_url(name, workspace) for name in ("connect", "regenerate", "disconnect")]
    urls.append(
        reverse("posting:webhook", kwargs={"code": workspace.code, "endpoint": endpoint.code})
    )
    for url in urls:
        assert login(charlie, fresh=False).get(url).status_code == 404, url
        assert login(vera, fresh=False).get(url).status_code == 403, url


def test_changing_the_password_asks_for_the_current_one(alice, login):
    client = login(alice, fresh=False)
    new = "another-long-pass-77"
    refused = client.post(
        reverse("account_change_password"),
        {"oldpassword": "not-it", "password1": new, "password2": new},
    )
    assert refused.status_code == 422
    alice.refresh_from_db()
    assert alice.check_password(PERSONA_PASSWORD)


# --- Taking a workspace over: inviting, changing a role, adding a webhook ----------------------


def test_inviting_asks_for_the_password_then_sends_the_invitation(
    alice, workspace, login, mailoutbox
):
    client = login(alice, fresh=False)
    url = reverse("accounts:member_invite", kwargs={"code": workspace.code})
    response = client.post(url, {"email": "taker@example.test", "role": "owner"})
    assert _asked(response, url)
    assert not Invitation.objects.filter(email="taker@example.test").exists()
    assert mailoutbox == []
    # The password given again, the invitation asked for goes out.
    client.post(response["Location"], {"password": PERSONA_PASSWORD})
    assert Invitation.objects.filter(email="taker@example.test", role="owner").exists()
    assert mailoutbox[-1].to == ["taker@example.test"]


def test_changing_a_role_asks_for_the_password_with_and_without_htmx(alice, bob, workspace, login):
    bobs = Membership.objects.get(workspace=workspace, user=bob)
    url = reverse("accounts:member_role", kwargs={"code": workspace.code, "member_code": bobs.code})
    members = reverse("accounts:members", kwargs={"code": workspace.code})
    client = login(alice, fresh=False)
    response = client.post(url, {"role": "owner"})
    assert _asked(response, url)
    # htmx swaps a row: the whole page goes to the password page, back to the members page.
    htmx = client.post(url, {"role": "owner"}, headers={"HX-Request": "true"})
    assert htmx.status_code == 204
    assert htmx["HX-Redirect"].startswith(f"{REAUTH}?next={members.replace('/', '%2F')}")
    bobs.refresh_from_db()
    assert bobs.role == "editor"
    assert login(alice).post(url, {"role": "owner"}).status_code == 302
    bobs.refresh_from_db()
    assert bobs.role == "owner"


def test_adding_a_webhook_asks_for_the_password_and_keeps_no_url(alice, workspace, login):
    client = login(alice, fresh=False)
    url = reverse("posting:webhooks", kwargs={"code": workspace.code})
    slack = "http://127.0.0.1:9/services/T000/B000/" + secrets.token_urlsafe(18)
    response = client.post(url, {"url": slack, "format": "slack"})
    assert _asked(response, url)
    assert not WebhookEndpoint.objects.exists()
    # The URL (Slack's is a credential) is not kept in the session for a replay.
    assert slack not in str(dict(client.session))
    client.post(response["Location"], {"password": PERSONA_PASSWORD})
    assert not WebhookEndpoint.objects.exists()
    assert client.post(url, {"url": slack, "format": "slack"}).status_code == 302
    assert WebhookEndpoint.objects.get().url == slack
