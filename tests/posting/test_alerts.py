"""Alerts against the sandbox over real HTTP, with both clocks moved (time-machine here,
/control/clock there): exactly one alert, one email per person, one digest entry, one delivery
per endpoint; stuck posts; a revoked key; webhook retries, signatures, Slack, refusals."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import AuditEvent, TaislyConnection
from posting.alerts import emails
from posting.alerts import rules as alerts
from posting.alerts.webhooks.delivery import deliveries_create, deliveries_due, delivery_send
from posting.alerts.webhooks.endpoints import delivery_redeliver, endpoint_create, endpoint_test
from posting.alerts.webhooks.guard import WebhookRefused
from posting.mirror import sync
from posting.models import (
    Alert,
    Platform,
    Post,
    TaislyRequest,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from posting.taisly.gateway import TaislyActionError
from tests.posting.sandbox_posts import *  # noqa: F403
from tests.posting.webhook_receiver import *  # noqa: F403

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"


def ids(account) -> dict[str, str]:
    return {p["platform"]: p["_id"] for p in account["platforms"]}


@pytest.fixture
def endpoints(workspace, alice, receiver):
    json_hook = endpoint_create(
        workspace=workspace, actor=alice, url=receiver.url("/json"), format="json"
    )
    slack_hook = endpoint_create(
        workspace=workspace, actor=alice, url=receiver.url("/slack"), format="slack"
    )
    return json_hook, slack_hook


def synced(workspace, capture):
    with capture(execute=True):
        return sync.history_sync(workspace=workspace)


def test_a_fail_tiktok_post_raises_one_alert_email_digest_entry_and_delivery_each(
    workspace,
    alice,
    bob,
    vera,
    connected,
    sandbox,
    sandbox_api,
    test_video,
    endpoints,
    receiver,
    django_capture_on_commit_callbacks,
):
    # vera (a viewer, off by default) chose the hourly digest.
    emails.email_preference_set(workspace=workspace, actor=vera, email="hourly")
    platform_ids = ids(connected)
    sandbox_api.create_post(
        test_video,
        [platform_ids["TikTok"], platform_ids["Instagram"]],
        description="Launch day #fail:TikTok",
    )
    synced(workspace, django_capture_on_commit_callbacks)  # both PENDING: nothing to say
    assert Alert.objects.count() == 0

    sandbox.advance(5)
    synced(workspace, django_capture_on_commit_callbacks)

    alert = Alert.objects.get()
    assert (alert.kind, alert.platform.network, alert.error_code) == (
        "failed",
        "TikTok",
        "SANDBOX_FORCED_FAILURE",
    )
    assert alert.post.description == "Launch day #fail:TikTok"
    # One email to each member who chose "immediately" (alice owns, bob edits; vera: digest).
    assert sorted(m.to[0] for m in mail.outbox) == sorted([alice.email, bob.email])
    email = mail.outbox[0]
    assert "TikTok" in email.body and "SANDBOX_FORCED_FAILURE" in email.body
    assert f"/w/{workspace.code}/posts/{alert.post.code}/" in email.body
    html = email.alternatives[0][0]
    assert "SANDBOX_FORCED_FAILURE" in html and "http://127.0.0.1:8000/w/" in html
    # One delivery to each endpoint.
    assert sorted(r.path for r in receiver.received) == ["/json", "/slack"]
    body = next(r for r in receiver.received if r.path == "/json").json()
    assert body["event"] == "alert.failed" and body["network"] == "TikTok"
    assert body["code"] == "SANDBOX_FORCED_FAILURE"
    assert body["post"]["description"] == "Launch day #fail:TikTok"

    # A second and a third sync (and the minute's scan) raise nothing.
    synced(workspace, django_capture_on_commit_callbacks)
    synced(workspace, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts.alerts_scan().raised == []
    assert Alert.objects.count() == 1
    assert len(mail.outbox) == 2
    assert len(receiver.received) == 2

    # The hourly digest: one entry for vera, once.
    with time_machine.travel(timezone.now() + timedelta(hours=1, minutes=1)):
        assert emails.alerts_digest() == 1
        assert emails.alerts_digest() == 0
    digest = mail.outbox[-1]
    assert digest.to == [vera.email]
    assert digest.body.count("SANDBOX_FORCED_FAILURE") == 1


def test_a_redelivered_email_task_sends_nothing_more(workspace, alice, bob):
    platform = Platform.objects.create(workspace=workspace, taisly_id="p", network="X")
    post = Post.objects.create(workspace=workspace, description="d", state=Post.State.SENT)
    alert = Alert.objects.create(workspace=workspace, post=post, platform=platform, kind="failed")
    assert emails.alerts_email(alert_ids=[alert.pk]) == 2
    assert emails.alerts_email(alert_ids=[alert.pk]) == 0
    assert len(mail.outbox) == 2


def test_the_database_refuses_a_second_alert_for_the_same_result_and_kind(workspace):
    platform = Platform.objects.create(workspace=workspace, taisly_id="p", network="X")
    post = Post.objects.create(workspace=workspace, description="d", state=Post.State.SENT)
    Alert.objects.create(workspace=workspace, post=post, platform=platform, kind="failed")
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(workspace=workspace, post=post, platform=platform, kind="failed")
    Alert.objects.create(workspace=workspace, kind="connection_invalid")
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(workspace=workspace, kind="connection_invalid")
    Alert.objects.create(workspace=workspace, post=post, kind="send_failed")
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(workspace=workspace, post=post, kind="send_failed")


def test_an_old_failure_found_by_a_first_backfill_is_history_not_news(
    workspace, connected, sandbox, sandbox_api, test_video, django_capture_on_commit_callbacks
):
    sandbox._control("POST", "clock", {"offset": -3 * 86400})
    sandbox_api.create_post(test_video, [ids(connected)["TikTok"]], description="old #fail")
    sandbox.reset_clock()
    synced(workspace, django_capture_on_commit_callbacks)
    assert Post.objects.filter(workspace=workspace).count() == 1
    assert Alert.objects.count() == 0


def test_a_stuck_post_raises_one_stuck_alert_after_the_wait_then_resolves(
    workspace,
    alice,
    connected,
    sandbox,
    sandbox_api,
    test_video,
    settings,
    django_capture_on_commit_callbacks,
):
    platform_ids = ids(connected)
    sandbox_api.create_post(
        test_video, [platform_ids["TikTok"], platform_ids["X"]], description="Hello #stuck:TikTok"
    )
    sandbox.advance(5)
    synced(workspace, django_capture_on_commit_callbacks)
    assert Alert.objects.count() == 0

    minutes = settings.STUCK_AFTER_MINUTES
    with time_machine.travel(timezone.now() + timedelta(minutes=minutes - 1)):
        sandbox.advance((minutes - 1) * 60)
        synced(workspace, django_capture_on_commit_callbacks)
        assert Alert.objects.count() == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=minutes + 1)):
        sandbox.advance(2 * 60)
        synced(workspace, django_capture_on_commit_callbacks)
        synced(workspace, django_capture_on_commit_callbacks)
        with django_capture_on_commit_callbacks(execute=True):
            alerts.alerts_scan()
    stuck = Alert.objects.get()
    assert (stuck.kind, stuck.platform.network, stuck.resolved_at) == ("stuck", "TikTok", None)
    assert len(mail.outbox) == 1  # alice, once

    # Taisly gets round to it (here: the result turns FAILED): resolved, and a FAILED alert.
    result = stuck.post.results.get(platform=stuck.platform)
    result.status, result.code, result.status_changed_at = "FAILED", "X_Y", timezone.now()
    result.save()
    with django_capture_on_commit_callbacks(execute=True):
        alerts.alerts_scan()
    stuck.refresh_from_db()
    assert stuck.resolved_at is not None
    assert set(Alert.objects.values_list("kind", flat=True)) == {"stuck", "failed"}


def test_a_key_revoked_elsewhere_alerts_once(
    workspace, alice, connected, sandbox_api, django_capture_on_commit_callbacks
):
    sandbox_api.post("/user/api-key/revoke")
    for _ in range(3):
        with pytest.raises(TaislyActionError):
            sync.history_sync(workspace=workspace)
        with django_capture_on_commit_callbacks(execute=True):
            alerts.alerts_scan()
    assert TaislyConnection.objects.get(workspace=workspace).status == "invalid"
    alert = Alert.objects.get()
    assert (alert.kind, alert.post, alert.platform, alert.error_code) == (
        "connection_invalid",
        None,
        None,
        "INVALID_API_KEY",
    )
    assert len(mail.outbox) == 1

    # Fixed (an owner connects a working key), then broken again: a new incident.
    TaislyConnection.objects.filter(workspace=workspace).update(status="active")
    alerts.alerts_scan()
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    TaislyConnection.objects.filter(workspace=workspace).update(status="invalid")
    alerts.alerts_scan()
    assert Alert.objects.filter(kind="connection_invalid").count() == 2


#: The rate window of the sandbox below: Taisly's retryAfter is at most an hour, this one's at
#: most twenty minutes, so a run of blocks over an hour takes a few blocks in a row.
WINDOW = 1200


@pytest.fixture(scope="module")
def short_window_sandbox(tmp_path_factory):
    from tests.sandbox_server import SandboxServer

    server = SandboxServer(tmp_path_factory.mktemp("blocked-run"), rate_window_seconds=WINDOW)
    server.start()
    yield server
    server.stop()


def test_a_key_refused_by_429s_for_over_an_hour_alerts_once(
    workspace, alice, settings, short_window_sandbox
):
    """Real 429s over HTTP: another app spends the account's hour again each time it frees up,
    so each background sync after a block ends is refused again. No single block is longer than
    retryAfter; the run of them is, and that raises one alert, which stays open between blocks
    and is resolved once Taisly serves a request. Both clocks are moved, never waited for."""
    from posting.connection import keys
    from posting.taisly import governor as quota
    from tests.sandbox.conftest import Api

    sandbox = short_window_sandbox
    settings.TAISLY_BASE_URL = sandbox.base_url
    settings.ALERT_BLOCKED_MINUTES = 60
    account = sandbox.create_account()
    keys.connection_connect(workspace=workspace, api_key=account["api_key"], plan=None, actor=alice)
    outside = Api(sandbox.base_url, account["api_key"])

    def spent_elsewhere() -> None:
        while outside.get("/user/api-key").status_code != 429:
            pass  # Taisly's own app, say, takes every request the window frees

    def background_sync() -> None:
        with quota.background():
            sync.history_sync(workspace=workspace)

    def refused_by_taisly() -> None:
        with pytest.raises(TaislyActionError) as caught:
            background_sync()
        assert getattr(caught.value.cause, "status", None) == 429  # Taisly's, not the governor's

    def past_the_block(clock) -> None:
        step = (connection().blocked_until - timezone.now()).total_seconds() + 1
        sandbox.advance(step)
        clock.shift(step)

    def connection() -> TaislyConnection:
        return TaislyConnection.objects.get(workspace=workspace)

    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        spent_elsewhere()
        refused_by_taisly()
        began = connection().blocked_since
        assert began == start
        assert connection().blocked_until <= start + timedelta(seconds=WINDOW)
        blocks = 1
        while timezone.now() - began < timedelta(minutes=60):
            assert alerts.alerts_scan().raised == []
            past_the_block(clock)
            assert alerts.alerts_scan().raised == []  # between two blocks: not blocked now
            spent_elsewhere()
            refused_by_taisly()
            blocks += 1
            assert connection().blocked_since == began  # one run: nothing served since
        assert blocks >= 4  # no single block came near the hour

        raised = alerts.alerts_scan().raised
        assert [(a.kind, a.error_code) for a in raised] == [("blocked", "RATE_LIMITED")]
        assert alerts.alerts_scan().raised == []
        # Between blocks the run goes on: the alert stays open.
        past_the_block(clock)
        alerts.alerts_scan()
        alert = Alert.objects.get(kind="blocked")
        assert alert.resolved_at is None

        # The other app stops: the next sync is served, the run and its alert are over.
        background_sync()
        assert connection().blocked_since is None
        alerts.alerts_scan()
        alert.refresh_from_db()
        assert alert.resolved_at is not None

        # A new 429 starts a new run, from now: nothing to alert about yet.
        spent_elsewhere()
        refused_by_taisly()
        assert connection().blocked_since == timezone.now()
        assert alerts.alerts_scan().raised == []
    assert TaislyRequest.objects.filter(status=429).count() == blocks + 1


def test_send_failed_and_needs_check_raise_their_alert(workspace, alice):
    failed = Post.objects.create(
        workspace=workspace, state=Post.State.SEND_FAILED, state_reason="Taisly said no."
    )
    check = Post.objects.create(workspace=workspace, state=Post.State.NEEDS_CHECK)
    kinds = {(a.post_id, a.kind) for a in alerts.alerts_scan().raised}
    assert kinds == {(failed.pk, "send_failed"), (check.pk, "needs_check")}
    assert alerts.alerts_scan().raised == []
    Post.objects.filter(pk=check.pk).update(state=Post.State.SENT)
    alerts.alerts_scan()
    assert Alert.objects.get(post=check).resolved_at is not None


# --- Webhooks -------------------------------------------------------------------------------------


def _one_alert(workspace) -> Alert:
    platform = Platform.objects.create(workspace=workspace, taisly_id="p1", network="TikTok")
    post = Post.objects.create(workspace=workspace, description="Hi", state=Post.State.SENT)
    return Alert.objects.create(
        workspace=workspace,
        post=post,
        platform=platform,
        kind="failed",
        error_code="DESCRIPTION_TOO_LONG",
    )


def test_an_endpoint_answering_500_twice_then_200_shows_three_tries(
    workspace, alice, receiver, settings
):
    settings.WEBHOOK_RETRY_SECONDS = 30
    endpoint = endpoint_create(workspace=workspace, actor=alice, url=receiver.url(), format="json")
    receiver.script = [500, 500, 200]
    (delivery_id,) = deliveries_create([_one_alert(workspace)])
    start = timezone.now()

    assert delivery_send(delivery_id=delivery_id) == "failed"
    assert delivery_send(delivery_id=delivery_id) == "not claimed"  # not due yet
    with time_machine.travel(start + timedelta(seconds=31), tick=False):
        assert deliveries_due() == 1  # the retry, queued (and run: sync in tests)
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        assert deliveries_due() == 0  # the second retry waits 60 s, not 30
    with time_machine.travel(start + timedelta(seconds=95), tick=False):
        assert deliveries_due() == 1

    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.state == "delivered"
    tries = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(t.number, t.status, t.ok) for t in tries] == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, True),
    ]
    assert tries[0].response_head.startswith("server error") and len(tries[0].response_head) == 500
    assert tries[2].response_head == "ok"
    assert len(receiver.received) == 3
    # Every try of one delivery carries the same delivery id.
    assert len({r.headers["X-Taisly-Dash-Delivery"] for r in receiver.received}) == 1
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None

    # The log shows them to the owner.
    from django.test import Client

    client = Client()
    client.force_login(alice)
    page = client.get(f"/w/{workspace.code}/webhooks/{endpoint.code}/")
    assert page.status_code == 200
    assert page.content.decode().count('data-testid="attempt"') == 3


def test_the_signature_verifies_with_the_readme_snippet(workspace, alice, receiver):
    readme = README.read_text()
    snippet = re.search(r"<!-- webhook-verify -->\n```python\n(.*?)```", readme, re.S).group(1)
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)  # the documented code, as written
    verify = namespace["verify"]

    endpoint = endpoint_create(workspace=workspace, actor=alice, url=receiver.url(), format="json")
    (delivery_id,) = deliveries_create([_one_alert(workspace)])
    assert delivery_send(delivery_id=delivery_id) == "delivered"
    got = receiver.received[0]
    timestamp = got.headers["X-Taisly-Dash-Timestamp"]
    signature = got.headers["X-Taisly-Dash-Signature"]
    assert verify(endpoint.secret, got.body, timestamp, signature)
    assert not verify("whsec_wrong", got.body, timestamp, signature)
    assert not verify(endpoint.secret, got.body + b" ", timestamp, signature)
    assert not verify(endpoint.secret, got.body, str(int(timestamp) - 3600), signature)
    expected = hmac.new(
        endpoint.secret.encode(), timestamp.encode() + b"." + got.body, hashlib.sha256
    ).hexdigest()
    assert signature == f"sha256={expected}"
    # The body is what an integration needs, without calling back.
    body = json.loads(got.body)
    assert set(body) >= {
        "event",
        "workspace",
        "post",
        "platform",
        "network",
        "code",
        "message",
        "times",
    }
    # The secret is stored encrypted.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM posting_webhookendpoint WHERE id = %s", [endpoint.pk])
        stored = cursor.fetchone()[0]
    assert endpoint.secret.startswith("whsec_") and endpoint.secret not in stored


def test_a_slack_endpoint_gets_a_text_body(workspace, alice, receiver):
    endpoint_create(workspace=workspace, actor=alice, url=receiver.url(), format="slack")
    (delivery_id,) = deliveries_create([_one_alert(workspace)])
    delivery_send(delivery_id=delivery_id)
    body = receiver.received[0].json()
    assert set(body) == {"text"}
    assert "TikTok" in body["text"] and "DESCRIPTION_TOO_LONG" in body["text"]
    assert "X-Taisly-Dash-Signature" not in receiver.received[0].headers


def test_an_endpoint_filters_events(workspace, alice, receiver):
    endpoint_create(
        workspace=workspace, actor=alice, url=receiver.url(), format="json", events=["stuck"]
    )
    assert deliveries_create([_one_alert(workspace)]) == []


def test_no_redirect_is_followed(workspace, alice, receiver):
    endpoint_create(workspace=workspace, actor=alice, url=receiver.url(), format="json")
    receiver.script = [302]
    (delivery_id,) = deliveries_create([_one_alert(workspace)])
    assert delivery_send(delivery_id=delivery_id) == "failed"
    assert len(receiver.received) == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.0.0.5/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
    ],
)
def test_loopback_and_private_addresses_are_refused_in_production(workspace, alice, settings, url):
    settings.WEBHOOK_REQUIRE_HTTPS = True
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(WebhookRefused):
        endpoint_create(workspace=workspace, actor=alice, url=url, format="json")
    assert not WebhookEndpoint.objects.exists()


def test_plain_http_is_refused_in_production(workspace, alice, settings):
    settings.WEBHOOK_REQUIRE_HTTPS = True
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(WebhookRefused, match="https"):
        endpoint_create(
            workspace=workspace, actor=alice, url="http://hooks.example.com/x", format="json"
        )


def test_an_endpoint_saved_in_development_is_refused_at_send_time_in_production(
    workspace, alice, receiver, settings
):
    endpoint_create(workspace=workspace, actor=alice, url=receiver.url(), format="json")
    (delivery_id,) = deliveries_create([_one_alert(workspace)])
    settings.WEBHOOK_ALLOW_PRIVATE = False
    assert delivery_send(delivery_id=delivery_id) == "failed"
    assert receiver.received == []
    attempt = WebhookAttempt.objects.get()
    assert attempt.status is None and "private" in attempt.response_head


def test_an_endpoint_failing_for_days_is_disabled_and_its_owners_told(
    workspace, alice, bob, receiver, settings
):
    settings.WEBHOOK_RETRY_SECONDS = 0
    settings.WEBHOOK_DISABLE_AFTER_DAYS = 2
    endpoint = endpoint_create(workspace=workspace, actor=alice, url=receiver.url(), format="json")
    receiver.script = [500] * 10
    (delivery_id,) = deliveries_create([_one_alert(workspace)])
    start = timezone.now()
    delivery_send(delivery_id=delivery_id)
    with time_machine.travel(start + timedelta(days=1)):
        delivery_send(delivery_id=delivery_id)
    endpoint.refresh_from_db()
    assert endpoint.enabled
    with time_machine.travel(start + timedelta(days=2, minutes=1)):
        delivery_send(delivery_id=delivery_id)
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    told = [m for m in mail.outbox if "webhook" in m.subject.lower()]
    assert [m.to for m in told] == [[alice.email]]  # the owner; bob edits
    assert AuditEvent.objects.filter(action="webhook.disabled", actor=None).exists()


def test_only_owners_add_webhooks(workspace, bob):
    from accounts.access import RoleRequired

    with pytest.raises(RoleRequired):
        endpoint_create(
            workspace=workspace, actor=bob, url="https://hooks.example.com/x", format="json"
        )


def test_a_test_event_and_a_redelivery(
    workspace, alice, receiver, django_capture_on_commit_callbacks
):
    endpoint = endpoint_create(workspace=workspace, actor=alice, url=receiver.url(), format="json")
    with django_capture_on_commit_callbacks(execute=True):
        delivery = endpoint_test(endpoint=endpoint, actor=alice)
    assert receiver.received[0].json()["event"] == "test"
    with django_capture_on_commit_callbacks(execute=True):
        delivery_redeliver(delivery=delivery, actor=alice)
    assert len(receiver.received) == 2
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 2
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"webhook.added", "webhook.tested", "webhook.redelivered"} <= actions


def test_a_scan_racing_another_worker_raises_nothing_twice(workspace, alice, monkeypatch):
    platform = Platform.objects.create(workspace=workspace, taisly_id="p", network="TikTok")
    post = Post.objects.create(
        workspace=workspace, description="d", state=Post.State.SENT, due_at=timezone.now()
    )
    post.results.create(platform=platform, status="FAILED", code="X_Y")
    original = alerts._raise

    def racing(**fields):
        # The other worker commits the same alert between this scan's look and its insert.
        Alert.objects.create(
            workspace_id=fields["workspace_id"],
            post_id=fields["post_id"],
            platform_id=fields["platform_id"],
            kind=fields["kind"],
        )
        return original(**fields)

    monkeypatch.setattr(alerts, "_raise", racing)
    assert alerts.alerts_scan().raised == []
    assert Alert.objects.count() == 1
    assert mail.outbox == []  # the other worker's batch emails it, not this one


def test_an_alert_email_is_in_the_member_s_language(workspace, alice):
    alice.language = "id"
    alice.save(update_fields=["language"])
    platform = Platform.objects.create(workspace=workspace, taisly_id="p", network="X")
    post = Post.objects.create(workspace=workspace, description="d", state=Post.State.SENT)
    alert = Alert.objects.create(
        workspace=workspace, post=post, platform=platform, kind="failed", error_code="X_Y"
    )
    assert emails.alerts_email(alert_ids=[alert.pk]) == 1
    (email,) = mail.outbox
    assert "postingan perlu perhatian" in email.subject
    assert "Halo" in email.body and "Coba lagi platform yang gagal" in email.body
