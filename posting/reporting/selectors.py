"""What the reporting pages read: the history list, the workspace overview's "what needs me?"
block, the agency overview's workspaces and a workspace's charts.

Every page reads a fixed number of queries whatever the workspace holds. List rows are read as
values in one query (``_for_list``: the post's columns, its author's name, its results and
chosen platforms as JSON arrays) and handed to the templates as plain dicts (``ListRow``), which
a template reads with one dictionary lookup per value.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import cache
from typing import NamedTuple, TypedDict

from django.core.paginator import Page, Paginator
from django.db.models import (
    Aggregate,
    BooleanField,
    Case,
    F,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import JSONArray
from django.utils.functional import cached_property
from django.utils.translation import gettext as _

from accounts.access import two_factor_locked
from accounts.models import Membership, TaislyConnection, Workspace
from posting.models import Post, PostResult
from posting.models.posts import thumbnail_version
from posting.reporting import charts, display, health
from posting.taisly.codes import explain

Status = PostResult.Status

#: The overview block's lists: the latest posts, unseen failures, the next scheduled posts.
OVERVIEW_POSTS = 5
OVERVIEW_FAILURES = 5
OVERVIEW_SCHEDULED = 5

#: A list row shows at most this much of a post's description (as ``truncatechars`` would).
ROW_TEXT_CHARS = 140


class ListChip(NamedTuple):
    """One platform of a list row: its network, its status (or the post's summary while
    Taisly has reported no result), the failure code and what it means, whether a repost.
    A tuple: pages render each distinct set of chips once (posting_pages.chips)."""

    network: str
    label: str
    code: str
    explanation: str
    css: str
    is_repost: bool


class ListRow(TypedDict):
    """A post as the history list and the overview show it."""

    code: object  # the post's UUID
    description: str
    text: str  # the description cut to ROW_TEXT_CHARS
    author: str  # "" for posts made in Taisly's own app
    created_at: datetime
    scheduled_at: datetime | None
    css: str  # the summary's colour
    label: str  # the summary's words
    chips: tuple[ListChip, ...]
    thumb: str  # the thumbnail's version (for its URL), "" while it has none
    taisly_app: bool  # found in Taisly's history: no video here, so never a thumbnail


class CappedPaginator(Paginator):
    """Counts ``counted`` (the plain queryset), at most ``cap`` + 1, and pages ``object_list``
    (the same posts with what a row shows)."""

    def __init__(self, object_list, per_page, *, counted, cap: int, **kwargs) -> None:
        super().__init__(object_list, per_page, **kwargs)
        self.counted = counted
        self.cap = cap

    @cached_property
    def count(self) -> int:
        return self.counted[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap


def workspace_members(workspace: Workspace) -> list[Membership]:
    """The workspace's members with their users, by name (the history's author filter)."""
    return list(
        Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by("user__display_name", "user__email")
    )


def history_posts(workspace: Workspace) -> QuerySet[Post]:
    """The workspace's posts, newest first: the history list before its filters. A post with a
    caption per network is one row (its group's lead, with every member's results)."""
    return Post.objects.filter(workspace=workspace, group__isnull=True).order_by(
        "-created_at", "-id"
    )


def history_page(
    posts: QuerySet[Post], number, *, per_page: int, cap: int
) -> tuple[Page, list[ListRow]]:
    """Page ``number`` of ``posts`` and its rows: two queries, the count (up to ``cap`` + 1)
    and the page's posts with everything their rows show."""
    page = CappedPaginator(_for_list(posts), per_page, counted=posts, cap=cap).get_page(number)
    return page, _rows(page.object_list)


def overview(workspace: Workspace, *, now: datetime) -> dict:
    """The overview block of a workspace: its latest posts, the failures nobody has looked at
    yet (and whether there are more) and its next scheduled posts. Three queries."""
    latest = _for_list(Post.objects.filter(workspace=workspace, group__isnull=True)).order_by(
        "-created_at", "-id"
    )[:OVERVIEW_POSTS]
    unseen = PostResult.objects.filter(
        post__workspace=workspace, status=Status.FAILED, seen_at__isnull=True
    )
    # Newest to go out first, as the failure inbox orders them (when the sync noticed a failure
    # says nothing to people: a first sync notices a month of them at once).
    failures = list(
        unseen.select_related("post", "platform").order_by(
            F("post__due_at").desc(nulls_last=True), "-post__created_at", "-id"
        )[: OVERVIEW_FAILURES + 1]
    )
    upcoming = list(
        Post.objects.filter(workspace=workspace, group__isnull=True, due_at__gt=now)
        .exclude(state__in=(Post.State.CANCELLED, Post.State.SEND_FAILED))
        .order_by("due_at", "id")[:OVERVIEW_SCHEDULED]
    )
    return {
        "rows": _rows(latest),
        "failures": [display.chip(r) for r in failures[:OVERVIEW_FAILURES]],
        "more_failures": len(failures) > OVERVIEW_FAILURES,
        "upcoming": upcoming,
    }


def member_workspaces(user, number, *, per_page: int, now: datetime, tz: tzinfo) -> Page:
    """Page ``number`` of ``user``'s workspaces with their health (posting.reporting.health),
    the one needing attention first, each with the user's role, its member count and its
    sparkline: two queries (and the count).

    A workspace that requires two-factor sign-in of a user without it is ``locked``: it comes
    last, among the locked ones by name (its place must not tell how it is doing), and the
    page shows none of its figures."""
    members = Membership.objects.filter(workspace=OuterRef("pk"))
    workspaces = (
        health.with_health(Workspace.objects.filter(memberships__user=user), user=user, now=now)
        .annotate(
            role=F("memberships__role"),
            members_count=health.count_of(members, "workspace"),
            locked=Case(
                When(two_factor_locked(user), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
        )
        .order_by(
            "locked",
            Case(When(locked=True, then=Value(0)), default=F("attention")),
            Case(When(locked=True, then=Value(0)), default=F("unseen_failures")).desc(),
            "name",
            "id",
        )
    )
    page = Paginator(workspaces, per_page).get_page(number)
    rows = list(page.object_list)
    sparks = health.sparklines([w.pk for w in rows if not w.locked], tz=tz, now=now)
    roles = dict(Membership.Role.choices)
    for workspace in rows:
        workspace.spark = sparks.get(workspace.pk)
        workspace.role_label = roles.get(workspace.role, "")
    page.object_list = rows
    return page


def workspace_charts(workspace: Workspace, *, tz: tzinfo, now: datetime) -> dict:
    """A workspace's charts (posting.reporting.charts): its posts per day, its results per
    network, its key's requests per hour. Four queries."""
    connections = list(
        TaislyConnection.objects.filter(workspace=workspace)
        .select_related("workspace")
        .defer("api_key")
    )
    return charts.chart_context(
        posts=Post.objects.filter(workspace=workspace),
        results=PostResult.objects.filter(post__workspace=workspace),
        connections=connections,
        tz=tz,
        now=now,
        prefix="w",
    )


#: What a list row reads of a post and of its author.
_LIST_FIELDS = (
    "id",
    "code",
    "description",
    "scheduled_at",
    "created_at",
    "state",
    "author_id",
    "author__display_name",
    "author__email",
    "thumbnail",
    "origin",
)


class _JSONArrayAgg(Aggregate):
    """A JSON array of the grouped values: ``jsonb_agg`` on PostgreSQL (jsonb, which Django's
    JSONField reads), ``json_group_array`` on SQLite. Django 5.2 has no portable one, and
    contrib.postgres's is PostgreSQL only."""

    function = "jsonb_agg"
    output_field = JSONField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="json_group_array", **extra_context)


def _json_of(related, *fields):
    """A post's ``related`` rows as one JSON array of [fields…], read inside the post's row;
    a group's lead (a caption per network) has its members' rows too."""
    return Subquery(
        related.filter(Q(post=OuterRef("pk")) | Q(post__group=OuterRef("pk")))
        .order_by()
        .annotate(one=Value(1))
        .values("one")
        .annotate(rows=_JSONArrayAgg(JSONArray(*fields)))
        .values("rows"),
        output_field=JSONField(),
    )


def _for_list(posts: QuerySet[Post]) -> QuerySet[Post]:
    """``posts`` as values with what a list row shows, in one query: the post's columns, its
    author's name, and its results and chosen platforms as JSON arrays (``_rows`` reads them).

    One query rather than three (posts, results, targets): the ORM's cost of each query is
    most of a list page's time. Count and paginate the plain queryset, not this one.
    """
    return posts.annotate(**_list_annotations()).values(*_LIST_FIELDS, *_list_annotations())


@cache
def _list_annotations() -> dict:
    # Built once: the expressions are the same for every list, and building them (two
    # querysets with their joins) cost as much as running one more query.
    return {
        "result_rows": _json_of(
            PostResult.objects, "id", "platform__network", "status", "code", "is_repost"
        ),
        "target_rows": _json_of(
            Post.target_platforms.through.objects, "platform_id", "platform__network"
        ),
    }


def _rows(posts) -> list[ListRow]:
    """One row per post of ``posts`` (``_for_list``'s values, sliced)."""
    states, statuses = display.labels(Post.State.choices), display.labels(Status.choices)
    unknown = _("Unknown network")
    out: list[ListRow] = []
    for values in posts:
        # (network, id) order, as the post page lists them.
        mine = sorted(values["result_rows"] or (), key=lambda row: (row[1] or "", row[0]))
        summary = display.summary_of(values["state"], [row[2] for row in mine], states)
        if mine:
            cancelled = values["state"] == Post.State.CANCELLED
            chips = tuple(
                ListChip(
                    network=network or unknown,
                    label=look[0],
                    code=code if status == Status.FAILED else "",
                    explanation=explain(code) if status == Status.FAILED else "",
                    css=look[1],
                    is_repost=bool(is_repost),
                )
                for _id, network, status, code, is_repost in mine
                for look in [display.result_look(status, statuses, cancelled=cancelled)]
            )
        else:
            targets = sorted(values["target_rows"] or (), key=lambda row: (row[1] or "", row[0]))
            chips = tuple(
                ListChip(
                    network=network or unknown,
                    label=summary.label,
                    code="",
                    explanation="",
                    css=summary.css,
                    is_repost=False,
                )
                for _id, network in targets
            )
        description = values["description"]
        out.append(
            ListRow(
                code=values["code"],
                description=description,
                text=_cut(description),
                author=(values["author__display_name"] or values["author__email"] or "")
                if values["author_id"]
                else "",
                created_at=values["created_at"],
                scheduled_at=values["scheduled_at"],
                css=summary.css,
                label=summary.label,
                chips=chips,
                thumb=thumbnail_version(values["thumbnail"]),
                taisly_app=values["origin"] == Post.Origin.HISTORY,
            )
        )
    return out


def _cut(text: str, length: int = ROW_TEXT_CHARS) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
