"""Delivering: one delivery per endpoint for each new alert, each try claimed once in the
webhook lane (the ``webhooks`` cluster), made under one overall deadline (``transport``) and
logged; retries with backoff; an endpoint failing for days is turned off and its owners told.

A slow endpoint cannot hold the lane: a try lasts at most WEBHOOK_TIMEOUT_SECONDS, one endpoint
has at most WEBHOOK_ENDPOINT_CONCURRENCY tries in flight and one workspace (however many
endpoints it adds) at most WEBHOOK_WORKSPACE_CONCURRENCY, fewer than the lane's workers (both
counted at claim time under the workspace's row lock, then the endpoint's; the rest wait their
turn, which a finished try hands on), and a delivery is claimed only while it has tries left.
A try whose worker stopped (killed at the lane's task limit, a crash) is logged as failed when
its lease runs out, and counts like any other failure.
"""

from __future__ import annotations

import http.client
import logging
import time
from collections import Counter
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from accounts.audit import audit_record
from accounts.models import AuditEvent, Membership, Workspace
from posting.alerts.display import absolute
from posting.alerts.webhooks import transport
from posting.alerts.webhooks.guard import WebhookRefused
from posting.alerts.webhooks.payload import alert_payload, request_for
from posting.models import Alert, WebhookAttempt, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

SEND_TASK = "posting.tasks.webhook_send"
#: The lane every try runs in (settings.Q_CLUSTER["ALT_CLUSTERS"]); never the default or
#: uploads cluster.
WEBHOOKS_CLUSTER = "webhooks"
HEAD_BYTES = 500
#: What the log says of a try whose worker stopped before it could say anything.
STOPPED = "worker stopped mid-try"
State = WebhookDelivery.State


def deliveries_create(alerts: list[Alert]) -> list[int]:
    """One pending delivery per (enabled endpoint that wants its kind, alert); the ids made.
    An alert not saved (a review event told to nobody) gets deliveries without an alert."""
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
            if alert.pk is None:
                # An event told to nobody in the app (``posting.alerts.reviews``): its delivery
                # stands alone, made once by the one act that made the event.
                delivery = WebhookDelivery.objects.create(
                    endpoint=endpoint, event=payload["event"], payload=payload
                )
                made.append(delivery.pk)
                continue
            delivery, created = WebhookDelivery.objects.get_or_create(
                endpoint=endpoint,
                alert=alert,
                defaults={"event": payload["event"], "payload": payload},
            )
            if created:
                made.append(delivery.pk)
    return made


def enqueue(delivery_id: int) -> None:
    """Queue one try of a delivery in the webhook lane (its id only: never a secret)."""
    async_task(
        SEND_TASK,
        delivery_id,
        cluster=WEBHOOKS_CLUSTER,
        task_name=f"webhook {delivery_id}",
        group="webhooks",
    )


def deliveries_due(*, now: datetime | None = None) -> int:
    """Queue the pending deliveries whose next try is due: retries, deliveries that waited for
    their endpoint's (or workspace's) turn, and tries whose worker stopped (their lease ran out).
    At most an endpoint's and a workspace's share of them each, oldest first. Returns how
    many."""
    now = now or timezone.now()
    due = WebhookDelivery.objects.filter(
        state=State.PENDING, next_attempt_at__isnull=False, next_attempt_at__lte=now
    ).order_by("next_attempt_at", "pk")
    per_endpoint: Counter[int] = Counter()
    per_workspace: Counter[int] = Counter()
    queued = 0
    rows = due.values_list("pk", "endpoint_id", "endpoint__workspace_id")[:500]
    for delivery_id, endpoint_id, workspace_id in rows:
        if (
            per_endpoint[endpoint_id] >= settings.WEBHOOK_ENDPOINT_CONCURRENCY
            or per_workspace[workspace_id] >= settings.WEBHOOK_WORKSPACE_CONCURRENCY
        ):
            continue
        per_endpoint[endpoint_id] += 1
        per_workspace[workspace_id] += 1
        enqueue(delivery_id)
        queued += 1
    return queued


def delivery_send(*, delivery_id: int) -> str:
    """Make one try of a pending delivery, if it is due, has tries left, its endpoint has a
    free slot and nobody else is making it."""
    outcome, delivery = _claim(delivery_id)
    if delivery is None:
        return outcome
    endpoint = delivery.endpoint
    now = timezone.now()
    status, head, ok = None, "", False
    started = time.monotonic()
    try:
        body, headers = request_for(endpoint, delivery)
        answer = transport.post(
            endpoint.url,
            body=body,
            headers=headers,
            seconds=settings.WEBHOOK_TIMEOUT_SECONDS,
            head=HEAD_BYTES,
        )
        status = answer.status
        head = answer.head.decode("utf-8", "replace")
        ok = 200 <= status < 300
    except WebhookRefused as exc:
        head = exc.message
    except transport.DeadlinePassed:
        head = f"no answer within {settings.WEBHOOK_TIMEOUT_SECONDS:g} s"
    except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
        # urllib3's own errors reach here from reading the body (a bad gzip body): each is one
        # failed try, logged and counted like any other.
        head = f"{type(exc).__name__}"
    duration = int((time.monotonic() - started) * 1000)
    done = timezone.now()
    with transaction.atomic():
        # The row and the release of the claim together: a worker stopping between them would
        # otherwise be logged a second time as stopped.
        _log(delivery, at=now, status=status, duration_ms=duration, head=head, ok=ok)
        if ok:
            _update(delivery, state=State.DELIVERED, delivered_at=done, next_attempt_at=None)
        elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            _update(delivery, state=State.FAILED, next_attempt_at=None)
        else:
            delay = timedelta(seconds=settings.WEBHOOK_RETRY_SECONDS * 2 ** (delivery.attempts - 1))
            _update(delivery, next_attempt_at=done + delay)
    if ok:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
    else:
        _after_failure(endpoint, done)
    _hand_on_turn(endpoint, after=delivery.pk)
    return "delivered" if ok else "failed"


def _claim(delivery_id: int) -> tuple[str, WebhookDelivery | None]:
    """Claim the next try of a delivery; ``(outcome, delivery)``, the delivery only when this
    worker is to make the try. A try whose worker stopped is logged here, and counted."""
    ids = (
        WebhookDelivery.objects.filter(pk=delivery_id)
        .values_list("endpoint_id", "endpoint__workspace_id")
        .first()
    )
    if ids is None:
        return "not claimed", None
    outcome, delivery, stopped = _claim_locked(delivery_id, *ids)
    if stopped:
        _after_failure(delivery.endpoint, timezone.now())
        if outcome != "claimed":
            _hand_on_turn(delivery.endpoint, after=delivery_id)
    return outcome, (delivery if outcome == "claimed" else None)


def _claim_locked(
    delivery_id: int, endpoint_id: int, workspace_id: int
) -> tuple[str, WebhookDelivery | None, bool]:
    """``(outcome, delivery, whether its last try's worker stopped)`` under the workspace's and
    the endpoint's locks."""
    with transaction.atomic():
        # Every claim takes the workspace's row lock, then the endpoint's (always in that
        # order), so counting the tries in flight and claiming one are a single step across
        # workers and clusters, for the workspace as for the endpoint.
        Workspace.objects.select_for_update().filter(pk=workspace_id).values_list("pk").first()
        endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
        now = timezone.now()
        delivery = (
            WebhookDelivery.objects.filter(pk=delivery_id, state=State.PENDING)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .first()
        )
        if endpoint is None or delivery is None:
            return "not claimed", None, False
        delivery.endpoint = endpoint
        stopped = delivery.claimed_until is not None
        if stopped:
            # Due again while still claimed: the lease ran out, so its worker stopped mid-try.
            _log(delivery, at=delivery.claimed_until, status=None, duration_ms=0, head=STOPPED)
            _update(delivery, claimed_until=None)
        if not endpoint.enabled:
            _update(delivery, state=State.FAILED, next_attempt_at=None)
            return "endpoint disabled", delivery, stopped
        if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            _update(delivery, state=State.FAILED, next_attempt_at=None)
            return "failed", delivery, stopped
        in_flight = WebhookDelivery.objects.filter(
            endpoint=endpoint, state=State.PENDING, claimed_until__gt=now
        ).count()
        in_workspace = WebhookDelivery.objects.filter(
            endpoint__workspace_id=workspace_id, state=State.PENDING, claimed_until__gt=now
        ).count()
        if (
            in_flight >= settings.WEBHOOK_ENDPOINT_CONCURRENCY
            or in_workspace >= settings.WEBHOOK_WORKSPACE_CONCURRENCY
        ):
            # Its turn comes when a try of the endpoint or workspace ends (_hand_on_turn), or
            # at the next scan (deliveries_due): deferred, never dropped.
            if delivery.next_attempt_at is None:
                _update(delivery, next_attempt_at=now)
            return "deferred", delivery, stopped
        # The lease outlasts the lane's task limit, after which the try is certainly over.
        lease = now + timedelta(seconds=settings.WEBHOOK_TASK_TIMEOUT + 15)
        _update(
            delivery, attempts=delivery.attempts + 1, claimed_until=lease, next_attempt_at=lease
        )
    return "claimed", delivery, stopped


def _hand_on_turn(endpoint: WebhookEndpoint, *, after: int) -> None:
    """A try of the endpoint ended: queue the workspace's next due deliveries (this endpoint's
    or another's; oldest first, one per endpoint, at most the workspace's share) other than
    this one (whose retry, after its delay, comes with the scan), so deliveries that waited for
    the endpoint's or the workspace's turn go on at once. One queued while the turn is taken
    again is deferred again, never dropped."""
    due = (
        WebhookDelivery.objects.filter(
            endpoint__workspace_id=endpoint.workspace_id,
            state=State.PENDING,
            next_attempt_at__lte=timezone.now(),
        )
        .exclude(pk=after)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", "endpoint_id")
    )
    picked: dict[int, int] = {}
    for delivery_id, endpoint_id in due[:100]:
        if len(picked) >= settings.WEBHOOK_WORKSPACE_CONCURRENCY:
            break
        picked.setdefault(endpoint_id, delivery_id)
    for delivery_id in picked.values():
        enqueue(delivery_id)


def _log(delivery, *, at, status, duration_ms, head, ok=False) -> None:
    number = WebhookAttempt.objects.filter(delivery=delivery).count() + 1
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=number,
        at=at,
        status=status,
        duration_ms=duration_ms,
        response_head=head[:HEAD_BYTES],
        ok=ok,
    )


def _update(delivery: WebhookDelivery, **fields) -> None:
    """Write ``fields`` (and release the claim, unless this is the claim)."""
    fields.setdefault("claimed_until", None)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)


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
