"""What staff oversight reads, each a fixed number of queries whatever the number of workspaces.

health_filtered(form)   → workspaces with health (posting.reporting.health) narrowed by the filters
failure_feed(now)       → the latest FAILED / stuck results and SEND_FAILED / NEEDS_CHECK posts
failure_groups(now)     → failures by (code, network) in the last hour and day: incidents
quota_pressure(now)     → connections near their limit or rate-limited in the last day
shared_keys()           → fingerprints held by several connections, with their workspaces
audit_filtered(form)    → audit events narrowed by actor, action, workspace, dates
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import AuditEvent, Membership, TaislyConnection, Workspace
from oversight.forms import NO_KEY
from posting.models import Post, PostResult, TaislyRequest
from posting.reporting import health

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
FEED_SIZE = 50
#: A network failing for this many workspaces in one window reads as an incident.
INCIDENT_WORKSPACES = 3
#: A connection that used this share of its hour is "near its limit".
NEAR_LIMIT = 0.8


def health_filtered(data: dict, *, now: datetime) -> QuerySet[Workspace]:
    """Every workspace with its health, narrowed by HealthFilterForm's cleaned data."""
    members = Membership.objects.filter(workspace=OuterRef("pk"))
    workspaces = health.with_health(Workspace.objects.all(), now=now).annotate(
        members_count=health.count_of(members, "workspace")
    )
    q = (data.get("q") or "").strip()
    if q:
        by_email = Membership.objects.filter(workspace=OuterRef("pk"), user__email__icontains=q)
        match = Q(name__icontains=q) | Exists(by_email)
        with contextlib.suppress(ValueError):
            match |= Q(code=uuid.UUID(q))
        workspaces = workspaces.filter(match)
    if data.get("plan"):
        workspaces = workspaces.filter(taisly_connection__plan=data["plan"])
    if data.get("key") == NO_KEY:
        workspaces = workspaces.filter(taisly_connection__isnull=True)
    elif data.get("key"):
        workspaces = workspaces.filter(taisly_connection__status=data["key"])
    if data.get("failing"):
        workspaces = workspaces.filter(
            Q(failed_week__gt=0)
            | Q(unseen_failures__gt=0)
            | Q(send_problems__gt=0)
            | Q(stuck__gt=0)
        )
    if data.get("stale"):
        workspaces = workspaces.filter(is_stale=True)
    if data.get("blocked"):
        workspaces = workspaces.filter(is_blocked=True)
    return health.by_attention(workspaces)


@dataclass(frozen=True)
class FeedItem:
    at: datetime
    kind: str
    label: str
    workspace: Workspace
    post: Post
    network: str
    code: str
    message: str


def failure_feed(*, now: datetime, size: int = FEED_SIZE) -> list[FeedItem]:
    """The latest problems across every workspace, newest first: three queries."""
    result_fields = ("post__workspace", "platform")
    failed = (
        PostResult.objects.filter(status=PostResult.Status.FAILED)
        .select_related(*result_fields)
        .defer("post__send_candidates")
        .order_by("-status_changed_at", "-id")[:size]
    )
    stuck = (
        health.stuck_results(now)
        .select_related(*result_fields)
        .defer("post__send_candidates")
        .order_by("-post__due_at", "-id")[:size]
    )
    unsent = (
        Post.objects.filter(state__in=[Post.State.SEND_FAILED, Post.State.NEEDS_CHECK])
        .select_related("workspace")
        .defer("send_candidates")
        .order_by("-updated_at", "-id")[:size]
    )
    items = [
        FeedItem(
            r.status_changed_at,
            "failed",
            str(_("Failed")),
            r.post.workspace,
            r.post,
            r.platform.network,
            r.code,
            r.message,
        )
        for r in failed
    ]
    items += [
        FeedItem(
            r.post.due_at,
            "stuck",
            str(_("Stuck")),
            r.post.workspace,
            r.post,
            r.platform.network,
            "",
            "",
        )
        for r in stuck
    ]
    items += [
        FeedItem(
            p.updated_at,
            p.state,
            p.get_state_display(),
            p.workspace,
            p,
            "",
            "",
            p.state_reason_display,
        )
        for p in unsent
    ]
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:size]


def failure_groups(*, now: datetime) -> list[dict]:
    """FAILED results of the last day by (code, network), with the last hour's share and how
    many workspaces each touched; stuck results by network likewise. Two queries."""
    hour, day = now - HOUR, now - DAY
    failed = (
        PostResult.objects.filter(status=PostResult.Status.FAILED, status_changed_at__gte=day)
        .values("code", "platform__network")
        .annotate(
            day=Count("pk"),
            hour=Count("pk", filter=Q(status_changed_at__gte=hour)),
            workspaces_day=Count("post__workspace", distinct=True),
            workspaces_hour=Count(
                "post__workspace", distinct=True, filter=Q(status_changed_at__gte=hour)
            ),
            kind=Value("failed"),
        )
        .order_by()
    )
    stuck = (
        health.stuck_results(now)
        .filter(post__due_at__gte=day)
        .values("platform__network")
        .annotate(
            code=Value("STUCK"),
            day=Count("pk"),
            hour=Count("pk", filter=Q(post__due_at__gte=hour)),
            workspaces_day=Count("post__workspace", distinct=True),
            workspaces_hour=Count(
                "post__workspace", distinct=True, filter=Q(post__due_at__gte=hour)
            ),
            kind=Value("stuck"),
        )
        .order_by()
    )
    groups = [
        {
            "code": row["code"] or "—",
            "network": row["platform__network"],
            "kind": row["kind"],
            "hour": row["hour"],
            "day": row["day"],
            "workspaces_hour": row["workspaces_hour"],
            "workspaces_day": row["workspaces_day"],
            "incident": row["workspaces_day"] >= INCIDENT_WORKSPACES,
        }
        for row in [*failed, *stuck]
    ]
    groups.sort(key=lambda g: (-g["workspaces_day"], -g["day"], g["network"], g["code"]))
    return groups


def _limit_case() -> Case:
    return Case(
        *[
            When(plan=plan, then=Value(limit))
            for plan, limit in TaislyConnection.HOURLY_LIMITS.items()
        ],
        default=Value(50),
        output_field=IntegerField(),
    )


def quota_pressure(*, now: datetime) -> QuerySet[TaislyConnection]:
    """Connections that used NEAR_LIMIT of their hour, were answered 429 or blocked in the last
    day; one query."""
    by_key = TaislyRequest.objects.filter(
        fingerprint=OuterRef("key_fingerprint"), started_at__gt=now - HOUR
    )
    limited = TaislyRequest.objects.filter(
        connection=OuterRef("pk"), status=429, started_at__gt=now - DAY
    )
    return (
        TaislyConnection.objects.exclude(key_fingerprint="")
        .select_related("workspace")
        .defer("api_key")
        .annotate(
            used=health.count_of(by_key, "fingerprint"),
            limited_day=health.count_of(limited, "connection"),
            limit=_limit_case(),
        )
        .filter(
            Q(used__gte=F("limit") * NEAR_LIMIT)
            | Q(limited_day__gt=0)
            | Q(blocked_until__gt=now - DAY)
        )
        .order_by("-limited_day", "-used", "workspace__name", "pk")
    )


def shared_keys() -> list[dict]:
    """Key fingerprints held by more than one connection, with the workspaces: two queries."""
    shared = list(
        TaislyConnection.objects.exclude(key_fingerprint="")
        .values("key_fingerprint")
        .annotate(n=Count("pk"), blocked=Max("blocked_until"))
        .filter(n__gt=1)
        .order_by("-n", "key_fingerprint")[:100]
    )
    holders: dict[str, list[TaislyConnection]] = {row["key_fingerprint"]: [] for row in shared}
    for connection in (
        TaislyConnection.objects.filter(key_fingerprint__in=holders)
        .select_related("workspace")
        .defer("api_key")
        .order_by("workspace__name", "pk")
    ):
        holders[connection.key_fingerprint].append(connection)
    return [
        {
            "fingerprint": row["key_fingerprint"][:12],
            "count": row["n"],
            "blocked_until": row["blocked"],
            "connections": holders[row["key_fingerprint"]],
        }
        for row in shared
    ]


def audit_filtered(data: dict) -> QuerySet[AuditEvent]:
    """Audit events narrowed by AuditFilterForm's cleaned data (dates in the viewer's zone)."""
    events = AuditEvent.objects.select_related("workspace")
    if data.get("actor"):
        events = events.filter(actor_email__icontains=data["actor"].strip())
    if data.get("action"):
        events = events.filter(action=data["action"])
    where = (data.get("workspace") or "").strip()
    if where:
        try:
            events = events.filter(workspace__code=uuid.UUID(where))
        except ValueError:
            events = events.filter(workspace_name__icontains=where)
    tz = timezone.get_current_timezone()
    if data.get("since"):
        events = events.filter(created_at__gte=datetime.combine(data["since"], time.min, tz))
    if data.get("until"):
        end = datetime.combine(data["until"], time.min, tz) + DAY
        events = events.filter(created_at__lt=end)
    return events
