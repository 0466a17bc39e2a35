"""What the calendar reads: a range of days, each with its first few posts (on the day and hour
each goes out, ``due_at``, in the viewer's time zone) and drafts (on their planned time), how
many it has in all, and each post's colour from its results; of one workspace or of several
(the calendar across clients).

One query for the posts whatever their number (``_first_posts``), written in SQL because the
ORM cannot put a LIMIT on each day, and one for the drafts (``_planned_drafts``). The days and
their entries are handed to the template as plain dicts (``Day``, ``Entry``), which a template
reads with one lookup per value: a month shows up to 35 cells and 140 entries.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TypedDict

from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.dates import MONTHS_3, WEEKDAYS_ABBR
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import Workspace
from posting.models import Draft, Post, PostResult
from posting.models.posts import thumbnail_version
from posting.reporting import display


class Entry(TypedDict):
    """One post or draft in a day cell."""

    url: str  # the post's (draft's) page
    posts_url: str  # its workspace's posts ("/w/<code>/posts/"), for the thumbnail's URL
    code: str  # the post's code
    css: str  # the summary's colour
    label: str  # the summary's words
    iso: str  # when it goes out, in the viewer's time zone (ISO 8601)
    time: str  # the same, as HH:MM
    hour: int  # its local hour (the week's row)
    at: str  # the same, as the move form's "at" (2026-12-08T14:00)
    text: str  # the description, short
    thumb: str  # the thumbnail's version (for its URL), "" while it has none
    taisly_app: bool  # found in Taisly's history: no video here, so never a thumbnail
    is_draft: bool  # a draft planned for then: not sent, nothing at Taisly
    move_url: str  # the "Move" form, "" when it cannot move (or the viewer may not move it)
    workspace_code: str
    workspace_name: str


class Day(TypedDict):
    """One day cell: its posts and what the cell shows, as plain strings."""

    date: date
    in_range: bool  # in the month shown (not one of the grid's edges)
    is_today: bool
    entries: list[Entry]
    total: int  # posts and drafts that day, shown or not
    drafts: int  # drafts planned that day
    iso: str
    weekday: str
    month_abbr: str
    number: str
    css: str
    more: int  # posts not shown
    more_label: str
    compose: str  # the link to compose a post for this day ("" when past, or read only)
    drop: bool  # an entry may be dropped here (the month's days not yet over)
    column: int  # the week's column (1 = Monday)
    hours: list[dict]  # the week's 24 cells (posting.planning.views._hours)


def calendar_days(
    workspaces: Sequence[Workspace],
    first: date,
    last: date,
    *,
    per_day: int,
    in_range: Callable[[date], bool],
    today: date,
    writable: Collection[int] = (),
) -> list[Day]:
    """Each day from ``first`` to ``last`` (local dates) with its first ``per_day`` entries of
    ``workspaces`` (one, or all of a person's on the calendar across clients): posts on the day
    they go out and drafts on the day they are planned for, in time order, and its total.
    ``in_range`` tells the days of the month shown from the grid's edges. Each entry names its
    workspace and links under it; in the ``writable`` workspaces (ids) a scheduled post that
    can still be edited and every draft offer "Move". Two queries whatever the range."""
    zone = timezone.get_current_timezone()
    days: list[Day] = []
    bounds = []
    current = first
    while current <= last:
        days.append(_day(current, in_range(current), current == today))
        bounds.append(
            (
                datetime.combine(current, time.min, tzinfo=zone),
                datetime.combine(current + timedelta(days=1), time.min, tzinfo=zone),
            )
        )
        current += timedelta(days=1)
    by_id = {workspace.pk: workspace for workspace in workspaces}
    if not by_id:
        _label(days)
        return days
    # A post's page is posting:post, the history's URL and the post's code: one reverse() per
    # workspace here rather than one per post.
    places = {pk: _Place(workspace) for pk, workspace in by_id.items()}
    now = timezone.now()
    states = display.labels(Post.State.choices)
    empty = _("(no description)")
    # A month repeats few summaries (a state and its results' statuses): each is worded once.
    summaries: dict[tuple, tuple[str, str]] = {}
    found: list[tuple[tuple, Entry]] = []
    totals: dict[int, dict[int, int]] = {}
    for row in _first_posts(list(by_id), bounds, per_day):
        index, post_id, code, description, due_at, state, total, statuses, thumb, origin = row[:10]
        workspace_id, editable = row[10], row[11]
        totals.setdefault(index, {})[workspace_id] = total
        if isinstance(statuses, str):  # SQLite's group_concat
            statuses = statuses.split(",")
        key = (state, *sorted(statuses or ()))
        if key not in summaries:
            summary = display.summary_of(state, list(key[1:]), states)
            summaries[key] = (summary.css, summary.label)
        css, label = summaries[key]
        local = _aware(due_at).astimezone(zone)
        place = places[workspace_id]
        code = _code(code)
        # posting.sending.edits.can_edit, from the row's columns (the edit checks it again).
        movable = bool(editable) and local > now and workspace_id in writable
        entry = _entry(place, code, local, description or empty)
        entry.update(
            url=f"{place.posts_url}{code}/",
            css=css,
            label=label,
            thumb=thumbnail_version(thumb),
            taisly_app=origin == Post.Origin.HISTORY,
            move_url=f"{place.calendar_url}posts/{code}/move/" if movable else "",
        )
        found.append(((index, local, 0, post_id), entry))
    draft_label = _("Draft")
    for index, draft_id, code, description, planned, workspace_id in _planned_drafts(
        list(by_id), bounds, per_day
    ):
        days[index]["drafts"] += 1
        place = places[workspace_id]
        code = _code(code)
        local = _aware(planned).astimezone(zone)
        entry = _entry(place, code, local, description or empty)
        entry.update(
            url=f"{place.drafts_url}{code}/",
            css="is-draft",
            label=draft_label,
            is_draft=True,
            move_url=(
                f"{place.calendar_url}drafts/{code}/move/" if workspace_id in writable else ""
            ),
        )
        found.append(((index, local, 1, draft_id), entry))
    found.sort(key=lambda item: item[0])
    for (index, *_rest), entry in found:
        # Several workspaces (and the drafts) each gave their first per_day: keep the day's.
        if len(days[index]["entries"]) < per_day:
            days[index]["entries"].append(entry)
    for index, per_workspace in totals.items():
        days[index]["total"] = sum(per_workspace.values())
    for day in days:
        day["total"] += day["drafts"]
    _label(days)
    return days


def _entry(place: _Place, code: str, local: datetime, description: str) -> Entry:
    """An entry's common part; the caller adds what a post or a draft has of its own."""
    return Entry(
        url="",
        posts_url=place.posts_url,
        code=code,
        css="",
        label="",
        iso=local.isoformat(),
        time=f"{local:%H:%M}",
        hour=local.hour,
        at=f"{local:%Y-%m-%dT%H:%M}",
        text=_short(description),
        thumb="",
        taisly_app=False,
        is_draft=False,
        move_url="",
        workspace_code=place.code,
        workspace_name=place.name,
    )


def _code(value) -> str:
    """A code as the cursor gives it: PostgreSQL a UUID, SQLite its hex text."""
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


class _Place:
    """Where a workspace's entries link: its code, name, posts', drafts' and calendar's URLs."""

    __slots__ = ("calendar_url", "code", "drafts_url", "name", "posts_url")

    def __init__(self, workspace: Workspace) -> None:
        self.code = str(workspace.code)
        self.name = workspace.name
        kwargs = {"code": self.code}
        self.posts_url = reverse("posting:history", kwargs=kwargs)
        self.drafts_url = reverse("posting:drafts", kwargs=kwargs)
        self.calendar_url = reverse("posting:calendar", kwargs=kwargs)


def _planned_drafts(
    workspace_ids: list[int], bounds: list[tuple[datetime, datetime]], per_day: int
) -> list[tuple]:
    """The open drafts planned within the range: rows of (day index, id, code, description,
    planned time, workspace id), at most ``per_day`` for each day of the range in all (drafts
    are few; a range crowded with them shows its first). One query, on the partial index of
    open drafts by (workspace, planned time)."""
    start, end = bounds[0][0], bounds[-1][1]
    rows = (
        Draft.objects.filter(
            workspace_id__in=workspace_ids,
            sent_at__isnull=True,
            scheduled_at__gte=start,
            scheduled_at__lt=end,
        )
        .order_by("scheduled_at", "id")
        .values_list("id", "code", "description", "scheduled_at", "workspace_id")[
            : per_day * len(bounds)
        ]
    )
    ends = [day_end for _start, day_end in bounds]
    found = []
    for draft_id, code, description, planned, workspace_id in rows:
        index = bisect.bisect_right(ends, planned)
        found.append((index, draft_id, code, description, planned, workspace_id))
    return found


def _first_posts(
    workspace_ids: list[int], bounds: list[tuple[datetime, datetime]], per_day: int
) -> list:
    """For each day (its start and end instant), its first ``per_day`` posts and how many it
    has in all: rows of (day index, id, code, description, due_at, state, total, the post's
    results' statuses: a list on PostgreSQL, comma-separated text on SQLite, or None,
    thumbnail, origin, workspace id). The totals are per workspace and day.

    One statement, hand-written because the ORM cannot put a LIMIT on each day: the window
    function it can express ranks every post of the month (8,000 in a busy one) to keep 140.
    Here each day is an index range scan on (workspace, due_at) that stops after ``per_day``
    rows, and its total an index-only count. PostgreSQL joins the days LATERALly, planned
    once; other databases (SQLite in development) get one UNION ALL part per day, which
    PostgreSQL would spend longer planning than running. Several workspaces (the calendar
    across clients) are one more join: each workspace's days, scanned and counted as above.

    A caption group (``posting.sending.groups``) is one post to people: only its lead (whose
    ``group_id`` is NULL) is read and counted, as on the history page.
    """
    table = connection.ops.quote_name(Post._meta.db_table)
    results = connection.ops.quote_name(PostResult._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    limit = int(per_day)
    # Whether posting.sending.edits.can_edit may allow it, but for the time (checked by the
    # caller against now): scheduled at Taisly, with its video kept. Only a constant is quoted.
    editable = (
        "({p}.state = '%s' AND {p}.taisly_id IS NOT NULL AND {p}.taisly_id <> '' "
        "AND {p}.scheduled_at IS NOT NULL AND {p}.video <> '' AND {p}.video_deleted_at IS NULL)"
    ).replace("%s", Post.State.SENT.value)
    if connection.vendor == "postgresql":
        # The days as three arrays: one short statement whatever the range, which psycopg
        # parses once (a VALUES list would make it parse a long new string on each page).
        sql = (
            f"SELECT d.i, p.id, p.code, p.description, p.due_at, p.state, t.total, "  # noqa: S608
            f"(SELECT array_agg(r.status) FROM {results} r WHERE r.post_id = p.id), "
            f"p.thumbnail, p.origin, w.id, {editable.format(p='p')} "
            f"FROM unnest(%s::integer[], %s::timestamptz[], %s::timestamptz[]) AS d(i, s, e) "
            f"CROSS JOIN unnest(%s::bigint[]) AS w(id) "
            f"CROSS JOIN LATERAL (SELECT COUNT(*) AS total FROM {table} c "
            f"WHERE c.workspace_id = w.id AND c.due_at >= d.s AND c.due_at < d.e "
            f"AND c.group_id IS NULL) AS t "
            f"CROSS JOIN LATERAL (SELECT q.id, q.code, q.description, q.due_at, q.state, "
            f"q.thumbnail, q.origin, q.taisly_id, q.scheduled_at, q.video, q.video_deleted_at "
            f"FROM {table} q WHERE q.workspace_id = w.id AND q.due_at >= d.s AND q.due_at < d.e "
            f"AND q.group_id IS NULL "
            f"ORDER BY q.due_at, q.id LIMIT {limit}) AS p"
        )
        params = [
            list(range(len(bounds))),
            [start for start, _end in bounds],
            [end for _start, end in bounds],
            list(workspace_ids),
        ]
    else:
        parts, params = [], []
        for index, (start, end) in enumerate(bounds):
            for workspace_id in workspace_ids:
                parts.append(
                    f"SELECT * FROM (SELECT {index} AS day, p.id, p.code, "  # noqa: S608
                    f"p.description, p.due_at, p.state, (SELECT COUNT(*) FROM {table} c "
                    f"WHERE c.workspace_id = %s AND c.due_at >= %s AND c.due_at < %s "
                    f"AND c.group_id IS NULL) AS total, "
                    f"(SELECT group_concat(r.status) FROM {results} r WHERE r.post_id = p.id) "
                    f"AS statuses, p.thumbnail, p.origin, p.workspace_id, "
                    f"{editable.format(p='p')} "
                    f"FROM {table} p WHERE p.workspace_id = %s AND p.due_at >= %s "
                    f"AND p.due_at < %s AND p.group_id IS NULL "
                    f"ORDER BY p.due_at, p.id LIMIT {limit}) AS day{index}_{len(parts)}"
                )
                window = [int(workspace_id), adapt(start), adapt(end)]
                params += window + window
        sql = " UNION ALL ".join(parts)
    with connection.cursor() as cursor:
        # Formatted in: only our quoted table name and integers; every value is a parameter.
        cursor.execute(sql, params)
        return cursor.fetchall()


def _aware(value) -> datetime:
    """A due_at as the cursor gives it: PostgreSQL an aware datetime, SQLite UTC text."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def _short(text: str, length: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def _day(day: date, in_range: bool, is_today: bool) -> Day:
    return Day(
        date=day,
        in_range=in_range,
        is_today=is_today,
        entries=[],
        total=0,
        drafts=0,
        iso="",
        weekday="",
        month_abbr="",
        number="",
        css="",
        more=0,
        more_label="",
        compose="",
        drop=False,
        column=0,
        hours=[],
    )


def _label(days: list[Day]) -> None:
    """What each cell shows, once its posts are known; weekday and month names worded once."""
    weekdays = [str(WEEKDAYS_ABBR[i]) for i in range(7)]
    months: dict[int, str] = {}
    for day in days:
        when = day["date"]
        if when.month not in months:
            months[when.month] = str(MONTHS_3[when.month]).capitalize()
        day["iso"] = when.isoformat()
        day["weekday"] = weekdays[when.weekday()]
        day["month_abbr"] = months[when.month]
        day["number"] = str(when.day)
        day["css"] = " ".join(
            name
            for name, on in (
                ("is-outside", not day["in_range"]),
                ("is-today", day["is_today"]),
                ("is-empty", not day["total"]),
            )
            if on
        )
        more = max(0, day["total"] - len(day["entries"]))
        day["more"] = more
        if more:
            day["more_label"] = ngettext("and %(counter)s more", "and %(counter)s more", more) % {
                "counter": more
            }
