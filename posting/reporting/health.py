"""Selectors of workspace health: how each workspace is doing, for the agency overview (a
person's workspaces, through posting.reporting.selectors) and staff oversight (every
workspace), in a fixed number of queries whatever the number of workspaces.

    Workspace queryset ─→ with_health() ─→ one SELECT with a correlated subquery per figure
                                            (posts, results, stuck, quota, next post, attention)
    page of workspaces ─→ sparklines()  ─→ one GROUP BY (workspace, day) for the 14 days

Attention, most urgent first: 0 the key no longer works (Taisly said 401), 1 failures nobody has
looked at yet (or unread alerts), 2 blocked by the rate limit, 3 history sync is stale, 4 fine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from accounts.models import Membership, TaislyConnection, Workspace
from posting.mirror.background import key_sharing, stale_after
from posting.models import Alert, AlertRead, Post, PostResult, TaislyRequest

Status = PostResult.Status
HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)
SPARK_DAYS = 14

ATTENTION_INVALID, ATTENTION_FAILURES, ATTENTION_BLOCKED, ATTENTION_STALE, ATTENTION_OK = range(5)


def stuck_after() -> timedelta:
    """A result still PENDING this long after its post was due is stuck (the alerts' rule)."""
    return timedelta(minutes=getattr(settings, "STUCK_AFTER_MINUTES", 30))


def count_of(queryset: QuerySet, group: str) -> Coalesce:
    """A correlated COUNT(*) of ``queryset`` grouped by ``group``, 0 when there are none."""
    counted = queryset.order_by().values(group).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def results_of(*, since: datetime | None = None, until: datetime | None = None) -> QuerySet:
    """Results of posts due in [since, until): a post's day is the day it went (or goes) out."""
    results = PostResult.objects.exclude(post__state=Post.State.CANCELLED)
    if since is not None:
        results = results.filter(post__due_at__gte=since)
    if until is not None:
        results = results.filter(post__due_at__lt=until)
    return results


def stuck_results(now: datetime) -> QuerySet:
    return PostResult.objects.filter(
        status=Status.PENDING, post__due_at__lte=now - stuck_after()
    ).exclude(post__state=Post.State.CANCELLED)


def _stale_when(now: datetime) -> Q:
    """Connected, and history older than its plan allows (or never synced). A key held by
    several workspaces is read less often for each (they split its idle share), so those are
    measured against their longer period: one query first, for the keys that are shared."""
    shared: dict[int, list[str]] = {}
    for fingerprint, count in key_sharing().items():
        shared.setdefault(count, []).append(fingerprint)
    everyone_shared = [fp for fingerprints in shared.values() for fp in fingerprints]
    groups = [(1, ~Q(taisly_connection__key_fingerprint__in=everyone_shared))]
    groups += [
        (count, Q(taisly_connection__key_fingerprint__in=fingerprints))
        for count, fingerprints in shared.items()
    ]
    when = Q(pk__in=[])
    for plan in TaislyConnection.Plan.values:
        for count, holders in groups:
            when |= (
                Q(taisly_connection__plan=plan)
                & holders
                & (
                    Q(mirror_state__history_synced_at__lt=now - stale_after(plan, sharing=count))
                    | Q(mirror_state__history_synced_at__isnull=True)
                )
            )
    return Q(taisly_connection__status=TaislyConnection.Status.ACTIVE) & when


def with_health(workspaces: QuerySet[Workspace], *, user=None, now: datetime | None = None):
    """``workspaces`` with every figure of a health row annotated (one query when evaluated).

    ``user``: count alerts this person has not read (the agency overview); None counts alerts
    nobody has read (staff oversight)."""
    now = now or timezone.now()
    week = results_of(since=now - WEEK, until=now).filter(post__workspace=OuterRef("pk"))
    # Posts as people made them: a caption per network is one post (its lead), its results
    # still one per platform.
    posts_week = Post.objects.filter(
        workspace=OuterRef("pk"), group__isnull=True, due_at__gte=now - WEEK, due_at__lt=now
    ).exclude(state=Post.State.CANCELLED)
    unseen = PostResult.objects.filter(
        post__workspace=OuterRef("pk"), status=Status.FAILED, seen_at__isnull=True
    )
    send_problems = Post.objects.filter(
        workspace=OuterRef("pk"), state__in=[Post.State.SEND_FAILED, Post.State.NEEDS_CHECK]
    )
    stuck = stuck_results(now).filter(post__workspace=OuterRef("pk"))
    # The governor counts a key's hour across every connection holding it (its fingerprint).
    by_key = TaislyRequest.objects.filter(
        fingerprint=OuterRef("taisly_connection__key_fingerprint"), started_at__gt=now - HOUR
    )
    by_connection = TaislyRequest.objects.filter(
        connection=OuterRef("taisly_connection"), started_at__gt=now - HOUR
    )
    upcoming = (
        Post.objects.filter(workspace=OuterRef("pk"), due_at__gt=now)
        .exclude(state=Post.State.CANCELLED)
        .order_by()
        .values("workspace")
        .annotate(first=Min("due_at"))
        .values("first")
    )
    latest = (
        Post.objects.filter(workspace=OuterRef("pk"), due_at__lte=now)
        .exclude(state=Post.State.CANCELLED)
        .order_by("-due_at")
        .values("due_at")[:1]
    )
    owner = (
        Membership.objects.filter(workspace=OuterRef("pk"), role=Membership.Role.OWNER)
        .order_by("created_at", "id")
        .values("user__email")[:1]
    )
    annotated = (
        workspaces.select_related("taisly_connection", "mirror_state")
        .defer("taisly_connection__api_key")
        .annotate(
            posts_week=count_of(posts_week, "workspace"),
            success_week=count_of(week.filter(status=Status.SUCCESS), "post__workspace"),
            failed_week=count_of(week.filter(status=Status.FAILED), "post__workspace"),
            unseen_failures=count_of(unseen, "post__workspace"),
            send_problems=_groups_count(send_problems),
            stuck=count_of(stuck, "post__workspace"),
            quota_used=Case(
                When(
                    ~Q(taisly_connection__key_fingerprint=""),
                    then=count_of(by_key, "fingerprint"),
                ),
                When(taisly_connection__isnull=False, then=count_of(by_connection, "connection")),
                default=Value(0),
                output_field=IntegerField(),
            ),
            next_post_at=Subquery(upcoming, output_field=DateTimeField()),
            last_post_at=Subquery(latest, output_field=DateTimeField()),
            owner_email=Subquery(owner),
            unread_alerts=_unread_alerts(user),
            is_blocked=Case(
                When(taisly_connection__blocked_until__gt=now, then=Value(True)),
                default=Value(False),
            ),
            is_stale=Case(When(_stale_when(now), then=Value(True)), default=Value(False)),
        )
        .annotate(
            success_rate=Case(
                When(Q(success_week=0, failed_week=0), then=None),
                default=ExpressionWrapper(
                    100.0 * F("success_week") / (F("success_week") + F("failed_week")),
                    output_field=FloatField(),
                ),
                output_field=FloatField(),
            ),
            attention=Case(
                When(
                    taisly_connection__status=TaislyConnection.Status.INVALID,
                    then=Value(ATTENTION_INVALID),
                ),
                When(
                    Q(unseen_failures__gt=0) | Q(unread_alerts__gt=0) | Q(send_problems__gt=0),
                    then=Value(ATTENTION_FAILURES),
                ),
                When(is_blocked=True, then=Value(ATTENTION_BLOCKED)),
                When(is_stale=True, then=Value(ATTENTION_STALE)),
                default=Value(ATTENTION_OK),
                output_field=IntegerField(),
            ),
        )
    )
    return annotated


def _groups_count(posts: QuerySet) -> Coalesce:
    """A correlated count of the user posts among ``posts`` (of the outer workspace): the
    Taisly posts of one group (a caption per network) count once."""
    counted = (
        posts.order_by()
        .values("workspace")
        .annotate(n=Count(Coalesce("group_id", "id"), distinct=True))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _unread_alerts(user):
    """Alerts of the workspace that ``user`` has not read, as posting.alerts.selectors.unread_count
    counts them (nobody has read, when ``user`` is None: staff oversight)."""
    reads = AlertRead.objects.filter(alert=OuterRef("pk"))
    if user is not None:
        reads = reads.filter(user=user)
    alerts = Alert.objects.filter(workspace=OuterRef("pk")).exclude(Exists(reads))
    return count_of(alerts, "workspace")


def by_attention(workspaces: QuerySet[Workspace]) -> QuerySet[Workspace]:
    return workspaces.order_by("attention", "-unseen_failures", "name", "id")


@dataclass(frozen=True)
class Spark:
    """A workspace's posts per day (oldest first) as a polyline inside a 70×16 box."""

    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def points(self) -> str:
        top = max(self.counts) or 1
        step = 70 / max(1, len(self.counts) - 1)
        return " ".join(
            f"{i * step:.1f},{15 - 14 * n / top:.1f}" for i, n in enumerate(self.counts)
        )


def local_days(count: int, tz: tzinfo, now: datetime) -> list[date]:
    today = timezone.localtime(now, tz).date()
    return [today - timedelta(days=count - 1 - i) for i in range(count)]


def sparklines(
    workspace_ids: list[int], *, tz: tzinfo, now: datetime | None = None, days: int = SPARK_DAYS
) -> dict[int, Spark]:
    """Posts per local day over the last ``days`` days for each workspace: one query."""
    now = now or timezone.now()
    span = local_days(days, tz, now)
    rows = (
        Post.objects.filter(
            workspace_id__in=workspace_ids,
            group__isnull=True,
            due_at__gte=now - timedelta(days=days + 1),
            due_at__lt=now,
        )
        .exclude(state=Post.State.CANCELLED)
        .annotate(day=TruncDate("due_at", tzinfo=tz))
        .values("workspace_id", "day")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts: dict[int, dict[date, int]] = {pk: {} for pk in workspace_ids}
    for row in rows:
        counts[row["workspace_id"]][row["day"]] = row["n"]
    return {pk: Spark(tuple(by_day.get(d, 0) for d in span)) for pk, by_day in counts.items()}
