"""The owners' endpoints: add, delete, turn on or off, send a test event, send a delivery again.
Each write checks the actor's role under lock and is written to the workspace's audit log.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from accounts.access import lock_actor_role
from accounts.audit import audit_record
from accounts.models import AuditEvent, User, Workspace
from posting.alerts.webhooks.delivery import enqueue
from posting.alerts.webhooks.guard import check_url
from posting.alerts.webhooks.payload import TEST_EVENT, test_payload
from posting.models import Alert, WebhookDelivery, WebhookEndpoint

State = WebhookDelivery.State


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


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _url_for_audit(url: str) -> str:
    # A Slack URL's path is its credential: the audit log keeps scheme and host only.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/…"
