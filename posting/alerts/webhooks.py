"""Outgoing webhooks: a workspace's alerts, signed and delivered to its owners' endpoints.

    alert raised ──deliveries_for──> WebhookDelivery (one per endpoint that wants the kind;
        │                            unique per (endpoint, alert): a re-raise makes none)
        └─ on commit: delivery_send(id)   (default cluster)
    delivery_send: claim the try (conditional UPDATE) ─> check the URL ─> POST, no redirects,
        │          a timeout on every request ─> WebhookAttempt (status, ms, first bytes)
        ├─ 2xx ─> delivered; the endpoint is healthy again
        └─ else ─> next try at WEBHOOK_RETRY_SECONDS × 2^(try-1), up to WEBHOOK_MAX_ATTEMPTS;
                   an endpoint failing for WEBHOOK_DISABLE_AFTER_DAYS is disabled, owners told
    every minute (ALERTS_SCHEDULE) ──> deliveries_due(): the retries whose time has come

Bodies: ``json`` is the signed event (README, "Outgoing webhooks"), signed with the endpoint's
own secret as HMAC-SHA256 over ``<timestamp>.<body>``; ``slack`` is ``{"text": ...}``, which a
Slack incoming-webhook URL takes as it is. In production only https URLs whose every address is
public are accepted, checked when the endpoint is saved, before each try, and again on the
socket actually connected (a name that resolves elsewhere at connect time is refused too).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_q.tasks import async_task
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from accounts.access import lock_actor_role
from accounts.audit import audit_record
from accounts.models import AuditEvent, Membership, User, Workspace
from posting.alerts.display import absolute, describe
from posting.models import Alert, WebhookAttempt, WebhookDelivery, WebhookEndpoint, reasons

logger = logging.getLogger(__name__)

SEND_TASK = "posting.tasks.webhook_send"
HEAD_BYTES = 500
SIGNATURE_HEADER = "X-Taisly-Dash-Signature"
TIMESTAMP_HEADER = "X-Taisly-Dash-Timestamp"
EVENT_HEADER = "X-Taisly-Dash-Event"
DELIVERY_HEADER = "X-Taisly-Dash-Delivery"
TEST_EVENT = "test"
State = WebhookDelivery.State


class WebhookRefused(Exception):
    """A URL or address webhooks may not go to; ``message`` says why, for the owner."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- Where a webhook may go ---------------------------------------------------------------------


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_url(url: str) -> None:
    """Raise ``WebhookRefused`` unless webhooks may be sent to ``url`` under the settings."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused(_("Enter a full URL that starts with https://."))
    if settings.WEBHOOK_REQUIRE_HTTPS and parts.scheme != "https":
        raise WebhookRefused(_("Webhook URLs must start with https://."))
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError):
        raise WebhookRefused(_("The URL's host name could not be found.")) from None
    if not infos or any(_forbidden(info[4][0]) for info in infos):
        raise WebhookRefused(
            _(
                "The URL points to a private, loopback or reserved address; webhooks only go "
                "to public addresses."
            )
        )


class _PublicOnly:
    """A connection that checks the address it actually connected to (DNS may have changed
    between the check and the connect)."""

    def _new_conn(self):
        sock = super()._new_conn()
        peer = sock.getpeername()[0]
        if _forbidden(peer):
            sock.close()
            raise WebhookRefused(_("The URL resolved to a private address when connecting."))
        return sock


class _PublicHTTPConnection(_PublicOnly, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicOnly, HTTPSConnection):
    pass


class _PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class _PublicAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PublicHTTPPool,
            "https": _PublicHTTPSPool,
        }


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: it would hide the real peer
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        session.mount("http://", _PublicAdapter(max_retries=0))
        session.mount("https://", _PublicAdapter(max_retries=0))
    return session


# --- Bodies ---------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def alert_payload(alert: Alert) -> dict:
    """The facts of an alert, as the JSON body carries them (an integration can act on them
    without calling back)."""
    workspace = alert.workspace
    post = alert.post
    platform = alert.platform
    with translation.override("en"):
        view = describe(alert)
    return {
        "event": f"alert.{alert.kind}",
        "id": str(alert.code),
        "kind": alert.kind,
        "workspace": {
            "code": str(workspace.code),
            "name": workspace.name,
            "url": absolute(reverse("posting:alerts", kwargs={"code": workspace.code})),
        },
        "post": (
            {
                "code": str(post.code),
                "taisly_id": post.taisly_id,
                "description": post.description,
                "state": post.state,
                "url": absolute(
                    reverse("posting:post", kwargs={"code": workspace.code, "post_code": post.code})
                ),
            }
            if post
            else None
        ),
        "platform": (
            {"id": platform.taisly_id, "name": platform.name, "network": platform.network}
            if platform
            else None
        ),
        "network": platform.network if platform else None,
        "code": alert.error_code or None,
        "message": reasons.shown(alert.message) or None,
        "explanation": view.explanation or None,
        "fix": view.fix,
        "times": {
            "raised_at": _iso(alert.created_at),
            "due_at": _iso(post.due_at) if post else None,
            "resolved_at": _iso(alert.resolved_at),
        },
    }


def test_payload(workspace: Workspace) -> dict:
    return {
        "event": TEST_EVENT,
        "id": None,
        "kind": TEST_EVENT,
        "workspace": {
            "code": str(workspace.code),
            "name": workspace.name,
            "url": absolute(reverse("posting:alerts", kwargs={"code": workspace.code})),
        },
        "post": None,
        "platform": None,
        "network": None,
        "code": None,
        "message": "This is a test event from taisly-dash.",
        "explanation": None,
        "fix": None,
        "times": {"raised_at": _iso(timezone.now()), "due_at": None, "resolved_at": None},
    }


def slack_text(payload: dict) -> str:
    """One Slack message with the same facts as the JSON body (English: a channel is shared)."""
    if payload["event"] == TEST_EVENT:
        return f"taisly-dash test event for workspace *{payload['workspace']['name']}*."
    lines = [f"*{payload['workspace']['name']}*: {payload['kind'].replace('_', ' ')}"]
    if payload["post"]:
        description = (payload["post"]["description"] or "(no description)")[:200]
        lines.append(f"Post: <{payload['post']['url']}|{description}>")
    if payload["platform"]:
        account = payload["platform"]["name"] or payload["platform"]["id"]
        lines.append(f"Account: {payload['network']} {account}")
    if payload["code"]:
        lines.append(f"Code: `{payload['code']}`")
    for key in ("explanation", "fix"):
        if payload.get(key):
            lines.append(payload[key])
    return "\n".join(lines)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def request_for(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> tuple[bytes, dict]:
    """The body and headers of one try (the timestamp is the try's own)."""
    headers = {"Content-Type": "application/json", "User-Agent": "taisly-dash-webhooks/1"}
    if endpoint.format == WebhookEndpoint.Format.SLACK:
        body = json.dumps({"text": slack_text(delivery.payload)}).encode()
        return body, headers
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers |= {
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.code),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(endpoint.secret, timestamp, body),
    }
    return body, headers


# --- Endpoints (owners only) ----------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def endpoint_create(
    *,
    workspace: Workspace,
    actor: User,
    url: str,
    format: str,
    events: Iterable[str] = (),
    request=None,
) -> WebhookEndpoint:
    """A new endpoint with a fresh signing secret. Raises ``WebhookRefused`` for a URL webhooks
    may not go to, ``RoleRequired`` unless ``actor`` owns the workspace (checked under lock)."""
    check_url(url)
    kinds = [k for k in events if k in Alert.Kind.values]
    with transaction.atomic():
        lock_actor_role(workspace=workspace, actor=actor)
        endpoint = WebhookEndpoint.objects.create(
            workspace=workspace,
            url=url,
            format=format,
            events=kinds,
            secret=new_secret(),
            created_by=actor,
        )
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditEvent.Action.WEBHOOK_ADDED,
            target=str(endpoint.code),
            details={"url": _url_for_audit(url), "format": format, "events": kinds},
            request=request,
        )
    return endpoint


def _url_for_audit(url: str) -> str:
    # A Slack URL's path is its credential: the audit log keeps scheme and host only.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/…"


def endpoint_delete(*, endpoint: WebhookEndpoint, actor: User, request=None) -> None:
    with transaction.atomic():
        lock_actor_role(workspace=endpoint.workspace, actor=actor)
        audit_record(
            workspace=endpoint.workspace,
            actor=actor,
            action=AuditEvent.Action.WEBHOOK_DELETED,
            target=str(endpoint.code),
            details={"url": _url_for_audit(endpoint.url)},
            request=request,
        )
        endpoint.delete()


def endpoint_set_enabled(
    *, endpoint: WebhookEndpoint, actor: User, enabled: bool, request=None
) -> WebhookEndpoint:
    with transaction.atomic():
        lock_actor_role(workspace=endpoint.workspace, actor=actor)
        endpoint.enabled = enabled
        endpoint.disabled_at = None if enabled else timezone.now()
        endpoint.failing_since = None
        endpoint.save(update_fields=["enabled", "disabled_at", "failing_since"])
        audit_record(
            workspace=endpoint.workspace,
            actor=actor,
            action=(
                AuditEvent.Action.WEBHOOK_ENABLED if enabled else AuditEvent.Action.WEBHOOK_DISABLED
            ),
            target=str(endpoint.code),
            request=request,
        )
    return endpoint


def endpoint_test(*, endpoint: WebhookEndpoint, actor: User, request=None) -> WebhookDelivery:
    """Send a test event now (and retry it like any other)."""
    with transaction.atomic():
        lock_actor_role(workspace=endpoint.workspace, actor=actor)
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event=TEST_EVENT, payload=test_payload(endpoint.workspace)
        )
        audit_record(
            workspace=endpoint.workspace,
            actor=actor,
            action=AuditEvent.Action.WEBHOOK_TESTED,
            target=str(endpoint.code),
            request=request,
        )
        transaction.on_commit(lambda: enqueue(delivery.pk))
    return delivery


def delivery_redeliver(*, delivery: WebhookDelivery, actor: User, request=None) -> WebhookDelivery:
    """Send a delivery again, with a fresh set of tries (the log keeps the earlier ones)."""
    endpoint = delivery.endpoint
    with transaction.atomic():
        lock_actor_role(workspace=endpoint.workspace, actor=actor)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=State.PENDING, attempts=0, next_attempt_at=None, delivered_at=None
        )
        audit_record(
            workspace=endpoint.workspace,
            actor=actor,
            action=AuditEvent.Action.WEBHOOK_REDELIVERED,
            target=str(delivery.code),
            details={"endpoint": str(endpoint.code), "event": delivery.event},
            request=request,
        )
        transaction.on_commit(lambda: enqueue(delivery.pk))
    delivery.refresh_from_db()
    return delivery


# --- Delivering -----------------------------------------------------------------------------------


def deliveries_for(alerts: list[Alert]) -> list[int]:
    """One pending delivery per (enabled endpoint that wants its kind, alert); the ids made."""
    workspace_ids = {a.workspace_id for a in alerts}
    endpoints = list(WebhookEndpoint.objects.filter(workspace_id__in=workspace_ids, enabled=True))
    if not endpoints:
        return []
    made = []
    for alert in alerts:
        payload = None
        for endpoint in endpoints:
            if endpoint.workspace_id != alert.workspace_id or not endpoint.wants(alert.kind):
                continue
            if payload is None:
                payload = alert_payload(alert)
            delivery, created = WebhookDelivery.objects.get_or_create(
                endpoint=endpoint,
                alert=alert,
                defaults={"event": payload["event"], "payload": payload},
            )
            if created:
                made.append(delivery.pk)
    return made


def enqueue(delivery_id: int) -> None:
    async_task(SEND_TASK, delivery_id, task_name=f"webhook {delivery_id}", group="webhooks")


def deliveries_due(*, now: datetime | None = None) -> int:
    """Queue every pending delivery whose next try is due (the retries). Returns how many."""
    now = now or timezone.now()
    due = list(
        WebhookDelivery.objects.filter(
            state=State.PENDING, next_attempt_at__isnull=False, next_attempt_at__lte=now
        ).values_list("pk", flat=True)[:500]
    )
    for delivery_id in due:
        enqueue(delivery_id)
    return len(due)


def delivery_send(*, delivery_id: int) -> str:
    """Make one try of a pending delivery, if it is due and nobody else is making it."""
    now = timezone.now()
    # The claim: the next try moves past this one's longest possible duration, so a second
    # worker (or a redelivered task) finds nothing due.
    lease = now + timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT_SECONDS + 30)
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, state=State.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(next_attempt_at=lease, attempts=F("attempts") + 1)
    )
    if claimed != 1:
        return "not claimed"
    delivery = WebhookDelivery.objects.select_related("endpoint__workspace").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=State.FAILED, next_attempt_at=None
        )
        return "endpoint disabled"
    number = WebhookAttempt.objects.filter(delivery=delivery).count() + 1
    status, head, ok = None, "", False
    started = time.monotonic()
    try:
        check_url(endpoint.url)
        body, headers = request_for(endpoint, delivery)
        timeout = settings.WEBHOOK_TIMEOUT_SECONDS
        with (
            _session() as session,
            session.post(
                endpoint.url,
                data=body,
                headers=headers,
                timeout=(timeout, timeout),
                allow_redirects=False,
                stream=True,
            ) as response,
        ):
            status = response.status_code
            head = response.raw.read(HEAD_BYTES, decode_content=True).decode("utf-8", "replace")
            ok = 200 <= status < 300
    except WebhookRefused as exc:
        head = exc.message
    except requests.Timeout:
        head = "timeout"
    except requests.RequestException as exc:
        head = f"{type(exc).__name__}"
    duration = int((time.monotonic() - started) * 1000)
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=number,
        at=now,
        status=status,
        duration_ms=duration,
        response_head=head[:HEAD_BYTES],
        ok=ok,
    )
    done = timezone.now()
    if ok:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=State.DELIVERED, delivered_at=done, next_attempt_at=None
        )
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        return "delivered"
    if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=State.FAILED, next_attempt_at=None
        )
    else:
        delay = timedelta(seconds=settings.WEBHOOK_RETRY_SECONDS * 2 ** (delivery.attempts - 1))
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=done + delay)
    _after_failure(endpoint, done)
    return "failed"


def _after_failure(endpoint: WebhookEndpoint, now: datetime) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(
        failing_since=now
    )
    cutoff = now - timedelta(days=settings.WEBHOOK_DISABLE_AFTER_DAYS)
    disabled = WebhookEndpoint.objects.filter(
        pk=endpoint.pk, enabled=True, failing_since__lte=cutoff
    ).update(enabled=False, disabled_at=now)
    if disabled != 1:
        return
    WebhookDelivery.objects.filter(endpoint=endpoint, state=State.PENDING).update(
        state=State.FAILED, next_attempt_at=None
    )
    audit_record(
        workspace=endpoint.workspace,
        actor=None,
        action=AuditEvent.Action.WEBHOOK_DISABLED,
        target=str(endpoint.code),
        details={"reason": "failing", "days": settings.WEBHOOK_DISABLE_AFTER_DAYS},
    )
    _tell_owners(endpoint)
    logger.info("Webhook endpoint %s disabled after failing", endpoint.code)


def _tell_owners(endpoint: WebhookEndpoint) -> None:
    owners = Membership.objects.filter(
        workspace=endpoint.workspace, role=Membership.Role.OWNER
    ).select_related("user")
    url = absolute(
        reverse(
            "posting:webhook", kwargs={"code": endpoint.workspace.code, "endpoint": endpoint.code}
        )
    )
    for membership in owners:
        user = membership.user
        if not user.is_active or not user.email:
            continue
        with translation.override(user.language or settings.LANGUAGE_CODE):
            context = {
                "user": user,
                "workspace": endpoint.workspace,
                "endpoint": endpoint,
                "host": urlsplit(endpoint.url).hostname,
                "days": settings.WEBHOOK_DISABLE_AFTER_DAYS,
                "url": url,
            }
            subject = _("%(workspace)s: a webhook was turned off") % {
                "workspace": endpoint.workspace.name
            }
            text = render_to_string("posting/email/webhook_disabled.txt", context)
        send_mail(subject, text, None, [user.email])
