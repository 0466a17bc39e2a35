"""Delivering: one delivery per endpoint for each new alert, each try claimed once, sent through
the guarded session and logged; retries with backoff; an endpoint failing for days is turned off
and its owners told.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
import urllib3
from django.conf import settings
from django.core.mail import send_mail
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from accounts.audit import audit_record
from accounts.models import AuditEvent, Membership
from posting.alerts.display import absolute
from posting.alerts.webhooks.guard import WebhookRefused, check_url, guarded_session
from posting.alerts.webhooks.payload import alert_payload, request_for
from posting.models import Alert, WebhookAttempt, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

SEND_TASK = "posting.tasks.webhook_send"
HEAD_BYTES = 500
State = WebhookDelivery.State


def deliveries_create(alerts: list[Alert]) -> list[int]:
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
            guarded_session() as session,
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
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        # urllib3's own errors reach here from reading the body (a bad gzip body, a stall):
        # each is one failed try, logged and counted like any other.
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
