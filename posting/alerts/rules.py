"""Alerts: what raises one, exactly once, and who hears of it.

    history_sync (after its transaction commits) ──> alerts_for_sync(workspace)
    every minute (ALERTS_SCHEDULE) ──────────────> alerts_scan() for every workspace
        alerts_scan: the mirror as it is now ──> Alert rows (get_or_create under the unique
        │            constraints: a re-sync, a redelivered task, two workers or a restart find
        │            the row and raise nothing) and resolves what no longer holds
        └─ new alerts, on commit ─┬─ alerts_email(ids)          (task: "immediately" members,
                                  │                              one email per person per batch)
                                  └─ WebhookDelivery per endpoint ─> delivery_send(id)
    every hour (DIGEST_SCHEDULE) ──> alerts_digest(): "hourly digest" members, one email each

The scan reads state, not events, so nothing is lost if a process dies between a sync and its
alerts: the next minute's scan raises what the sync's own call did not. What raises an alert:
- a result FAILED (new, or PENDING before): kind ``failed``. A failure first seen in a backfill
  of history older than a day is history, not news, and raises nothing;
- a result still PENDING ``STUCK_AFTER_MINUTES`` after its post was due: ``stuck``, resolved
  once the result is SUCCESS or FAILED (a FAILED raises its own ``failed`` alert);
- a post SEND_FAILED or NEEDS_CHECK: ``send_failed`` / ``needs_check``, resolved when it leaves
  that state; a post that enters the state again later (sent again, or edited, and failing
  again) is a new incident with an alert of its own;
- an edit that was not made, the post staying as it was: ``edit_failed``, raised by the edit
  itself (``edit_failed_alert``: an event, not a state) and resolved by the next edit;
- the workspace's key no longer accepted (401/403, revoked or regenerated elsewhere):
  ``connection_invalid``; refused by 429s, one after another with no request served between
  them, for longer than ``ALERT_BLOCKED_MINUTES``: ``blocked``. Both resolved once the key works
  again; a later incident is a new alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django_q.tasks import async_task

from accounts.models import TaislyConnection, Workspace
from posting.alerts.emails import EMAIL_TASK
from posting.alerts.webhooks.delivery import deliveries_create, enqueue
from posting.models import Alert, Post, PostResult

logger = logging.getLogger(__name__)


Kind = Alert.Kind


#: Failures older than this when first seen (a first sync's backfill) are history, not news.
BACKFILL_QUIET = timedelta(hours=24)


#: How far back the scan looks for failures and sends that have no alert yet.
SCAN_WINDOW = timedelta(hours=48)


#: The workspaces a scan looks at (None: all of them).
Scope = list[int] | None


@dataclass(frozen=True)
class Batch:
    """The alerts one scan raised (new rows only) and the ones it resolved."""

    raised: list[Alert]
    resolved: int


def alerts_for_sync(workspace: Workspace) -> Batch:
    """Called by history sync once its diff is committed: raise what the new mirror says."""
    return alerts_scan(workspace_ids=[workspace.pk])


def alerts_scan(
    *, workspace_ids: Iterable[int] | None = None, now: datetime | None = None
) -> Batch:
    """Raise every alert the mirror calls for that does not exist yet; resolve the ones that
    no longer hold. ``workspace_ids`` None: every workspace. Safe to run any number of times,
    in any number of processes at once."""
    now = now or timezone.now()
    scope = list(workspace_ids) if workspace_ids is not None else None
    batches = [
        _failed(scope, now),
        _stuck(scope, now),
        _send_failed(scope, now),
        _needs_check(scope, now),
        _connection_invalid(scope, now),
        _blocked(scope, now),
    ]
    raised = [alert for batch in batches for alert in batch.raised]
    resolved = sum(batch.resolved for batch in batches)
    if raised:
        _dispatch(raised)
        logger.info("Alerts: %d raised, %d resolved", len(raised), resolved)
    return Batch(raised=raised, resolved=resolved)


def _failed(scope: Scope, now: datetime) -> Batch:
    """FAILED results without their alert. A failure is final: nothing to resolve."""
    results = _within(
        scope,
        PostResult.objects.filter(
            status=PostResult.Status.FAILED, status_changed_at__gte=now - SCAN_WINDOW
        )
        .filter(
            # It was something else before (PENDING), or it is a recent post's failure.
            ~Q(status_changed_at=F("first_seen_at"))
            | Q(post__due_at__gte=now - BACKFILL_QUIET)
            | Q(post__due_at__isnull=True)
        )
        .exclude(Exists(_same_result_alert(Kind.FAILED))),
        "post__workspace_id",
    ).select_related("post")
    raised: list[Alert] = []
    for result in results:
        raised += _raise(
            workspace_id=result.post.workspace_id,
            post_id=result.post_id,
            platform_id=result.platform_id,
            kind=Kind.FAILED,
            error_code=result.code,
            message=result.message,
            now=now,
        )
    return Batch(raised=raised, resolved=0)


def _stuck(scope: Scope, now: datetime) -> Batch:
    """PENDING results long past due; resolved once the result finished (or its post was
    cancelled)."""
    results = _within(
        scope,
        PostResult.objects.filter(
            status=PostResult.Status.PENDING,
            post__state=Post.State.SENT,
            post__due_at__lte=now - timedelta(minutes=settings.STUCK_AFTER_MINUTES),
            post__due_at__gte=now - timedelta(days=settings.POSTING_SYNC_LOOKBACK_DAYS),
        ).exclude(Exists(_same_result_alert(Kind.STUCK))),
        "post__workspace_id",
    ).select_related("post")
    raised: list[Alert] = []
    for result in results:
        minutes = int((now - result.post.due_at).total_seconds() // 60)
        raised += _raise(
            workspace_id=result.post.workspace_id,
            post_id=result.post_id,
            platform_id=result.platform_id,
            kind=Kind.STUCK,
            error_code="",
            message=f"PENDING {minutes} min",
            now=now,
        )
    still_pending = PostResult.objects.filter(
        post_id=OuterRef("post_id"),
        platform_id=OuterRef("platform_id"),
        status=PostResult.Status.PENDING,
        post__state=Post.State.SENT,
    )
    resolved = _within(
        scope,
        Alert.objects.filter(kind=Kind.STUCK, resolved_at__isnull=True).exclude(
            Exists(still_pending)
        ),
    ).update(resolved_at=now)
    return Batch(raised=raised, resolved=resolved)


def _send_failed(scope: Scope, now: datetime) -> Batch:
    """Posts whose video never reached Taisly; resolved when the post leaves that state."""
    return _post_in_state(scope, now, kind=Kind.SEND_FAILED, state=Post.State.SEND_FAILED)


def _needs_check(scope: Scope, now: datetime) -> Batch:
    """Posts that need a person's check; resolved when the post leaves that state."""
    return _post_in_state(scope, now, kind=Kind.NEEDS_CHECK, state=Post.State.NEEDS_CHECK)


def _connection_invalid(scope: Scope, now: datetime) -> Batch:
    """The key no longer accepted; resolved once it is. A later incident is a new alert."""
    invalid = {"status": TaislyConnection.Status.INVALID}
    return _key_in_state(
        scope,
        now,
        kind=Kind.CONNECTION_INVALID,
        error_code="INVALID_API_KEY",
        raise_when=invalid,
        holds=invalid,
        message=lambda connection: connection.key_hint,
    )


def _blocked(scope: Scope, now: datetime) -> Batch:
    """The key blocked now, in a run of 429s that began over ``ALERT_BLOCKED_MINUTES`` ago with
    no request served since (``blocked_since``, kept by the governor). One 429 blocks for at
    most Taisly's ``retryAfter`` (an hour at most), so only a run can last longer: Taisly
    refusing again each time the block ends. Resolved once Taisly serves a request with the key
    (between two blocks of one run it stays open); a later run is a new alert."""
    run_began = now - timedelta(minutes=settings.ALERT_BLOCKED_MINUTES)
    return _key_in_state(
        scope,
        now,
        kind=Kind.BLOCKED,
        error_code="RATE_LIMITED",
        raise_when={"blocked_until__gt": now, "blocked_since__lte": run_began},
        holds={"blocked_since__isnull": False},
        message=lambda connection: connection.blocked_since.isoformat(),
    )


def _key_in_state(
    scope: Scope,
    now: datetime,
    *,
    kind: str,
    error_code: str,
    raise_when: dict,
    holds: dict,
    message: Callable[[TaislyConnection], str],
) -> Batch:
    """The workspace-level alert ``kind`` for each connection matching ``raise_when`` (lookups
    on TaislyConnection) without an open one; an open one is resolved once its workspace's
    connection no longer matches ``holds``."""
    connections = _within(
        scope, TaislyConnection.objects.defer("api_key").filter(**raise_when)
    ).exclude(Exists(_open_workspace_alert(kind)))
    raised: list[Alert] = []
    for connection in connections:
        raised += _raise(
            workspace_id=connection.workspace_id,
            post_id=None,
            platform_id=None,
            kind=kind,
            error_code=error_code,
            message=message(connection),
            now=now,
        )
    still = {f"workspace__taisly_connection__{lookup}": v for lookup, v in holds.items()}
    resolved = _within(
        scope, Alert.objects.filter(kind=kind, resolved_at__isnull=True).exclude(**still)
    ).update(resolved_at=now)
    return Batch(raised=raised, resolved=resolved)


def _post_in_state(scope: Scope, now: datetime, *, kind: str, state: str) -> Batch:
    """The alert ``kind`` for each recent post in ``state`` without one; resolved when the post
    leaves the state."""
    posts = _within(
        scope,
        Post.objects.filter(state=state, updated_at__gte=now - SCAN_WINDOW).exclude(
            Exists(
                Alert.objects.filter(post_id=OuterRef("pk"), kind=kind, resolved_at__isnull=True)
            )
        ),
    )
    raised: list[Alert] = []
    for post in posts:
        raised += _raise(
            workspace_id=post.workspace_id,
            post_id=post.pk,
            platform_id=None,
            kind=kind,
            error_code="",
            message=post.state_reason,
            now=now,
        )
    resolved = _within(
        scope,
        Alert.objects.filter(kind=kind, resolved_at__isnull=True).exclude(post__state=state),
    ).update(resolved_at=now)
    return Batch(raised=raised, resolved=resolved)


def edit_failed_alert(post: Post, message: str) -> None:
    """The ``edit_failed`` alert for ``post`` (a group's lead), with ``message`` (a stored
    sentence saying what is scheduled now), unless one is open; sent like every new alert."""
    with transaction.atomic():
        raised = _raise(
            workspace_id=post.workspace_id,
            post_id=post.pk,
            platform_id=None,
            kind=Kind.EDIT_FAILED,
            error_code="",
            message=message,
            now=timezone.now(),
        )
        if raised:
            _dispatch(raised)


def post_alerts_resolve(post_ids: Iterable[int], *, now: datetime | None = None) -> int:
    """Resolve the open post-level alerts of ``post_ids``: an edit starts a new incident."""
    return Alert.objects.filter(
        post_id__in=list(post_ids), kind__in=Alert.POST_KINDS, resolved_at__isnull=True
    ).update(resolved_at=now or timezone.now())


def _within(scope: Scope, qs: QuerySet, field: str = "workspace_id") -> QuerySet:
    return qs.filter(**{f"{field}__in": scope}) if scope is not None else qs


def _same_result_alert(kind: str) -> QuerySet[Alert]:
    """The ``kind`` alert of the outer query's result (same post, same platform)."""
    return Alert.objects.filter(
        post_id=OuterRef("post_id"), platform_id=OuterRef("platform_id"), kind=kind
    )


def _open_workspace_alert(kind: str) -> QuerySet[Alert]:
    """The outer query's workspace's unresolved ``kind`` alert."""
    return Alert.objects.filter(
        workspace_id=OuterRef("workspace_id"), kind=kind, resolved_at__isnull=True
    )


def _raise(
    *,
    workspace_id: int,
    post_id: int | None,
    platform_id: int | None,
    kind: str,
    error_code: str,
    message: str,
    now: datetime,
) -> list[Alert]:
    """The alert, made unless it exists: [alert] when this call made it, else []."""
    lookup = {"workspace_id": workspace_id, "post_id": post_id, "platform_id": platform_id}
    if platform_id is None:
        # Connection and post kinds: unique among the open ones (a later incident is new).
        lookup["resolved_at"] = None
    try:
        with transaction.atomic():
            alert, created = Alert.objects.get_or_create(
                kind=kind,
                **lookup,
                defaults={"error_code": error_code[:100], "message": message, "created_at": now},
            )
    except IntegrityError:
        # Another process made it between our look and our insert: theirs is the one.
        return []
    return [alert] if created else []


def _dispatch(alerts: list[Alert]) -> None:
    """Webhook deliveries for the new alerts now, emails and sends once the alerts commit."""
    deliveries = deliveries_create(alerts)
    ids = [a.pk for a in alerts]

    def after_commit() -> None:
        async_task(EMAIL_TASK, ids, task_name=f"alert emails ({len(ids)})", group="alerts")
        for delivery_id in deliveries:
            enqueue(delivery_id)

    transaction.on_commit(after_commit)
