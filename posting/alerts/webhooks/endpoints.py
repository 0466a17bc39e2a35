"""The owners' endpoints: add, delete, turn on or off, send a test event, send a delivery again.
Each write checks the actor's role under lock and is written to the workspace's audit log. A
test event and a redelivery each cost a try in the webhook lane, so together they are limited
per endpoint (WEBHOOK_MANUAL_LIMIT in WEBHOOK_MANUAL_WINDOW_SECONDS), counted on the endpoint's
row under its lock: every web process sees one count. A workspace has at most
WEBHOOK_ENDPOINTS_PER_WORKSPACE endpoints (counted under the workspace's row lock).
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.access import lock_actor_role
from accounts.audit import audit_record
from accounts.models import AuditEvent, User, Workspace
from posting.alerts.webhooks.delivery import enqueue
from posting.alerts.webhooks.guard import check_url
from posting.alerts.webhooks.payload import TEST_EVENT, test_payload
from posting.models import Alert, WebhookDelivery, WebhookEndpoint

State = WebhookDelivery.State


class DeliveryPending(Exception):
    """A delivery still being tried cannot be sent again; ``message`` says so."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TooManyEndpoints(Exception):
    """The workspace has as many endpoints as it may; ``message`` says so."""

    def __init__(self, limit: int) -> None:
        self.message = ngettext(
            "This workspace already has %(limit)d webhook, the most it may have. Delete one "
            "before adding another.",
            "This workspace already has %(limit)d webhooks, the most it may have. Delete one "
            "before adding another.",
            limit,
        ) % {"limit": limit}
        super().__init__(self.message)


class WebhookRateLimited(Exception):
    """Too many test events and redeliveries for one endpoint; ``message`` says when to try
    again, ``seconds`` is how long that is."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.message = ngettext(
            "This webhook was sent test events and redeliveries too often. Try again in "
            "%(seconds)d second.",
            "This webhook was sent test events and redeliveries too often. Try again in "
            "%(seconds)d seconds.",
            seconds,
        ) % {"seconds": seconds}
        super().__init__(self.message)


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
    may not go to, ``RoleRequired`` unless ``actor`` owns the workspace (checked under lock),
    ``TooManyEndpoints`` when it has WEBHOOK_ENDPOINTS_PER_WORKSPACE already."""
    check_url(url)
    kinds = [k for k in events if k in Alert.Kind.values]
    with transaction.atomic():
        lock_actor_role(workspace=workspace, actor=actor)
        # The workspace's row lock makes counting and adding one step for every process.
        Workspace.objects.select_for_update().filter(pk=workspace.pk).values_list("pk").first()
        limit = settings.WEBHOOK_ENDPOINTS_PER_WORKSPACE
        if WebhookEndpoint.objects.filter(workspace=workspace).count() >= limit:
            raise TooManyEndpoints(limit)
        endpoint = WebhookEndpoint.objects.create(
            workspace=workspace,
            url=url,
            format=format,
            events=kinds,
            secret=_new_secret(),
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
    """Send a test event now (and retry it like any other). Raises ``WebhookRateLimited``
    when the endpoint's manual sends are used up for now."""
    with transaction.atomic():
        lock_actor_role(workspace=endpoint.workspace, actor=actor)
        _count_manual_send(endpoint)
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
    """Send a finished delivery again, with a fresh set of tries (the log keeps the earlier
    ones). Raises ``DeliveryPending`` for one still being tried, ``WebhookRateLimited`` when the
    endpoint's manual sends are used up for now."""
    endpoint = delivery.endpoint
    with transaction.atomic():
        lock_actor_role(workspace=endpoint.workspace, actor=actor)
        _count_manual_send(endpoint)
        # Only a finished delivery: resetting one still being tried would start a second try
        # beside the one in flight.
        reset = (
            WebhookDelivery.objects.filter(pk=delivery.pk)
            .exclude(state=State.PENDING)
            .update(state=State.PENDING, attempts=0, next_attempt_at=None, delivered_at=None)
        )
        if reset != 1:
            raise DeliveryPending(_("This delivery is still being tried; its log shows each try."))
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


def _count_manual_send(endpoint: WebhookEndpoint) -> None:
    # The endpoint's row lock makes the look and the count one step for every process.
    locked = WebhookEndpoint.objects.select_for_update().only("manual_sends").get(pk=endpoint.pk)
    now = time.time()
    window = settings.WEBHOOK_MANUAL_WINDOW_SECONDS
    recent = [t for t in locked.manual_sends if isinstance(t, int | float) and t > now - window]
    if len(recent) >= settings.WEBHOOK_MANUAL_LIMIT:
        raise WebhookRateLimited(max(1, math.ceil(min(recent) + window - now)))
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(manual_sends=[*recent, now])


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _url_for_audit(url: str) -> str:
    # A Slack URL's path is its credential: the audit log keeps scheme and host only.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/…"
