"""The admin, as a superuser sees it: no two-factor secret, no webhook URL past its host, and no
way around the rule that a workspace keeps an owner (issue 15, item 9)."""

from __future__ import annotations

import pytest
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.urls import reverse

from accounts.models import AuditEvent, Membership, User
from posting.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.posting.factories import make_platforms, make_post

pytestmark = pytest.mark.django_db

TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXQ"
SLACK = "https://hooks.slack.com/services/T0SECRET/B0SECRET/xoxsecretpathtoken123"


@pytest.fixture
def admin_client(client):
    root = User.objects.create_superuser(email="root@example.test", password="x-pass-12345")
    client.force_login(root)
    return client


def _pages(admin_client, *urls) -> str:
    pages = []
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        pages.append(response.content.decode())
    return "\n".join(pages)


def test_the_authenticator_admin_never_shows_a_secret_or_seed(admin_client, alice):
    totp = TOTP.activate(alice, TOTP_SECRET).instance
    codes = RecoveryCodes.activate(alice)
    seed_stored = codes.instance.data["seed"]
    text = _pages(
        admin_client,
        reverse("admin:mfa_authenticator_changelist"),
        reverse("admin:mfa_authenticator_change", args=[totp.pk]),
        reverse("admin:mfa_authenticator_change", args=[codes.instance.pk]),
        reverse("admin:mfa_authenticator_delete", args=[totp.pk]),
    )
    assert "Alice" in text and "TOTP Authenticator" in text  # the pages are about her
    for secret in (TOTP_SECRET, totp.data["secret"], seed_stored, *codes.generate_codes()):
        assert secret not in text
    assert 'name="data"' not in text
    # And nothing can be typed in: no add, no change.
    assert admin_client.get(reverse("admin:mfa_authenticator_add")).status_code == 403
    admin_client.post(
        reverse("admin:mfa_authenticator_change", args=[totp.pk]), {"data": '{"secret": "x"}'}
    )
    totp.refresh_from_db()
    assert TOTP(totp).instance.data["secret"] != "x"


def test_the_admin_cannot_delete_the_last_owner_of_a_shared_workspace(
    admin_client, alice, bob, workspace
):
    owner = Membership.objects.get(user=alice, workspace=workspace)
    url = reverse("admin:accounts_membership_delete", args=[owner.pk])
    for response in (admin_client.get(url), admin_client.post(url, {"post": "yes"})):
        assert response.status_code == 302
        assert response["Location"] == reverse("admin:accounts_membership_change", args=[owner.pk])
    page = admin_client.get(response["Location"]).content.decode()
    assert "A workspace always keeps at least one owner" in page
    # Nor in a bulk action.
    changelist = reverse("admin:accounts_membership_changelist")
    editor = Membership.objects.get(user=bob, workspace=workspace)
    action = {"action": "delete_selected", "_selected_action": [owner.pk, editor.pk]}
    assert admin_client.post(changelist, {**action, "post": "yes"}).status_code == 403
    assert Membership.objects.filter(pk__in=[owner.pk, editor.pk]).count() == 2


def test_the_admin_removes_a_member_through_the_service_and_it_is_audited(
    admin_client, alice, bob, workspace
):
    editor = Membership.objects.get(user=bob, workspace=workspace)
    url = reverse("admin:accounts_membership_delete", args=[editor.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Membership.objects.filter(pk=editor.pk).exists()
    event = AuditEvent.objects.get(workspace=workspace, action=AuditEvent.Action.MEMBER_REMOVED)
    assert event.target == "bob@example.test"
    assert event.details == {"role": "editor", "left": False, "staff_action": True}


def test_the_webhook_admin_shows_scheme_and_host_only_and_searches_no_path(admin_client, workspace):
    endpoint = WebhookEndpoint.objects.create(workspace=workspace, url=SLACK, format="slack")
    post = make_post(workspace, make_platforms(workspace, ["TikTok"]), {"TikTok": "FAILED:X"})
    from posting.models import Alert

    alert = Alert.objects.create(workspace=workspace, post=post, kind="send_failed")
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, alert=alert, event="alert")
    attempt = WebhookAttempt.objects.create(delivery=delivery, number=1)
    text = _pages(
        admin_client,
        reverse("admin:posting_webhookendpoint_changelist"),
        reverse("admin:posting_webhookendpoint_change", args=[endpoint.pk]),
        reverse("admin:posting_webhookendpoint_delete", args=[endpoint.pk]),
        reverse("admin:posting_webhookdelivery_changelist"),
        reverse("admin:posting_webhookdelivery_change", args=[delivery.pk]),
        reverse("admin:posting_webhookattempt_changelist"),
        reverse("admin:posting_webhookattempt_change", args=[attempt.pk]),
    )
    assert "https://hooks.slack.com/…" in text
    for part in ("/services", "T0SECRET", "B0SECRET", "xoxsecretpathtoken123"):
        assert part not in text
    # Search: by the host (or the workspace) it finds the endpoint; by the path, nothing.
    for name in ("webhookendpoint", "webhookdelivery", "webhookattempt"):
        url = reverse(f"admin:posting_{name}_changelist")
        found = admin_client.get(url, {"q": "hooks.slack.com"}).context["cl"].result_count
        assert found == 1, name
        for guess in ("xoxsecretpathtoken123", "T0SECRET", "hooks.slack.com/services/T0"):
            assert admin_client.get(url, {"q": guess}).context["cl"].result_count == 0, guess
    # A staff change is written to the workspace's log without the path either.
    admin_client.post(reverse("admin:posting_webhookendpoint_change", args=[endpoint.pk]), {})
    event = AuditEvent.objects.get(action=AuditEvent.Action.STAFF_CHANGED)
    assert "T0SECRET" not in event.target and "hooks.slack.com" in event.target
