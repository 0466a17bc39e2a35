"""Charts as server-rendered SVG: the numbers (one aggregate query each) and their geometry.

Why not a library: the page runs under a strict CSP (no inline script or style), so the SVG may
carry presentation attributes only. pygal embeds <script> and <style>. ``leather`` does write
presentation attributes only, but it has no stacked columns, writes no <title>/<desc> or ARIA
wiring, and sizes its output in fixed pixels. The charts here are three simple shapes (stacked
columns, horizontal bars, columns with a limit line), so ~150 lines of geometry plus Django
templates (templates/posting/_chart_*.html, autoescaped) are smaller than working around one.

Every chart has a <title> and a <desc> (role="img", aria-labelledby), scales with its viewBox
to the width of a phone, and has its numbers in a table under it.

    posts_per_day(...)       ─→ Stacked   (30 local days × outcome)
    success_per_network(...) ─→ Bars      (network → success rate of its results)
    quota_per_hour(...)      ─→ Columns   (24 local hours, per connection, against its limit)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from django.db.models import Case, CharField, Count, Exists, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from posting.models import Post, PostResult, TaislyRequest
from posting.reporting.health import local_days

Status = PostResult.Status
State = Post.State

#: The outcomes a post's column is stacked by, bottom first, with their colours (Bulma's).
OUTCOMES = (
    ("posted", _("Posted"), "#48c78e"),
    ("pending", _("Pending"), "#ffb70f"),
    ("failed", _("Failed on a network"), "#f14668"),
    ("send_failed", _("Not sent"), "#7a0a1f"),
)

# The drawing area inside the viewBox, in SVG units (the SVG scales to its container).
WIDTH, HEIGHT = 420, 200
LEFT, RIGHT, TOP, BOTTOM = 30, 8, 10, 24


def _nice_max(value: int) -> int:
    """A round top for the axis at or above ``value``."""
    if value <= 5:
        return 5
    for step in (10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step:
            return step
    return ((value // 10000) + 1) * 10000


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str
    label: str

    @property
    def end_x(self) -> float:
        return self.x + self.w

    @property
    def end_y(self) -> float:
        return self.y + self.h


@dataclass
class Chart:
    """What a chart template draws: rectangles, y-axis ticks, x labels, an optional line."""

    ident: str
    title: str
    desc: str
    rects: list[Rect] = field(default_factory=list)
    ticks: list[tuple[float, int]] = field(default_factory=list)
    xlabels: list[tuple[float, str]] = field(default_factory=list)
    limit_y: float | None = None
    limit_label: str = ""
    legend: list[tuple[str, str]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom_y: int = HEIGHT - BOTTOM


#: SVG units per digit of a tick's label at the template's font size, and the gap to the axis.
DIGIT, TICK_GAP = 8, 8


def tick_values(top: int) -> list[int]:
    """Evenly spaced round ticks from 0 to ``top`` (a ``_nice_max``): its half when that is a
    whole number, else its fifths (5 → 0, 1, 2, 3, 4, 5; "0, 2, 5" read as a broken scale)."""
    if top % 2 == 0:
        return [0, top // 2, top]
    step = top // 5 if top % 5 == 0 else top
    return list(range(0, top + 1, step))


def _axis(chart: Chart, top: int) -> float:
    """Round ticks up to ``top``, and room left of the axis for the widest of their labels
    (a 30-unit margin cut "1000" on a phone); returns units per count."""
    span = HEIGHT - TOP - BOTTOM
    scale = span / top
    chart.ticks = [(HEIGHT - BOTTOM - n * scale, n) for n in tick_values(top)]
    chart.left = max(LEFT, TICK_GAP + DIGIT * len(str(top)))
    return scale


# --- Posts per day, stacked by outcome ----------------------------------------------------------


def _outcome() -> Case:
    """A user post's outcome, over every Taisly post of its group (a caption per network): the
    outer query reads leads only, so a group counts once and a member's failure still shows."""
    of_group = Q(post_id=OuterRef("pk")) | Q(post__group_id=OuterRef("pk"))
    failed = PostResult.objects.filter(of_group, status=Status.FAILED)
    pending = PostResult.objects.filter(of_group, status=Status.PENDING)
    members = Post.objects.filter(group_id=OuterRef("pk"))
    unsent = [State.SEND_FAILED, State.NEEDS_CHECK]
    on_the_way = [State.QUEUED, State.SENDING]
    return Case(
        When(
            Q(state__in=unsent) | Exists(members.filter(state__in=unsent)),
            then=Value("send_failed"),
        ),
        When(Exists(failed), then=Value("failed")),
        When(
            Q(state__in=on_the_way)
            | Exists(members.filter(state__in=on_the_way))
            | Exists(pending),
            then=Value("pending"),
        ),
        default=Value("posted"),
        output_field=CharField(),
    )


def posts_per_day(
    posts: QuerySet[Post], *, tz: tzinfo, now: datetime | None = None, days: int = 30
) -> tuple[list[date], dict[str, list[int]]]:
    """Posts due on each of the last ``days`` local days by outcome: one query. A post with a
    caption per network is one post (its group's lead), as the person made it."""
    now = now or timezone.now()
    span = local_days(days, tz, now)
    rows = (
        posts.filter(group__isnull=True, due_at__gte=now - timedelta(days=days + 1), due_at__lt=now)
        .exclude(state=State.CANCELLED)
        .annotate(day=TruncDate("due_at", tzinfo=tz), outcome=_outcome())
        .values("day", "outcome")
        .annotate(n=Count("pk"))
        .order_by()
    )
    index = {d: i for i, d in enumerate(span)}
    series = {key: [0] * days for key, _label, _fill in OUTCOMES}
    for row in rows:
        if row["day"] in index:
            series[row["outcome"]][index[row["day"]]] += row["n"]
    return span, series


def stacked_chart(ident: str, span: list[date], series: dict[str, list[int]]) -> Chart:
    totals = [sum(series[key][i] for key, _l, _f in OUTCOMES) for i in range(len(span))]
    total = sum(totals)
    chart = Chart(
        ident=ident,
        title=str(_("Posts per day, last %(days)d days") % {"days": len(span)}),
        desc=str(
            _(
                "Stacked columns, one per day from %(first)s to %(last)s: %(total)d posts, "
                "%(posted)d posted, %(pending)d pending, %(failed)d failed on a network, "
                "%(unsent)d not sent. The table below has every day's numbers."
            )
            % {
                "first": span[0].isoformat(),
                "last": span[-1].isoformat(),
                "total": total,
                "posted": sum(series["posted"]),
                "pending": sum(series["pending"]),
                "failed": sum(series["failed"]),
                "unsent": sum(series["send_failed"]),
            }
        ),
        legend=[(str(label), fill) for _key, label, fill in OUTCOMES],
    )
    scale = _axis(chart, _nice_max(max(totals, default=0)))
    left = chart.left
    slot = (WIDTH - left - RIGHT) / len(span)
    for i, day in enumerate(span):
        y = HEIGHT - BOTTOM
        for key, label, fill in OUTCOMES:
            n = series[key][i]
            if n:
                h = n * scale
                y -= h
                chart.rects.append(
                    Rect(
                        left + i * slot + 1, y, slot - 2, h, fill, f"{day.isoformat()}: {n} {label}"
                    )
                )
        if i % 5 == 0 and i < len(span) - 3:
            chart.xlabels.append((left + (i + 0.5) * slot, day.strftime("%d/%m")))
    # The last day's label ends at the right edge (the template anchors the last one at its end).
    chart.xlabels.append((WIDTH - RIGHT, span[-1].strftime("%d/%m")))
    return chart


def day_table(span: list[date], series: dict[str, list[int]]) -> list[dict]:
    return [
        {
            "day": day,
            "counts": [series[key][i] for key, _l, _f in OUTCOMES],
            "total": sum(series[key][i] for key, _l, _f in OUTCOMES),
        }
        for i, day in enumerate(span)
    ]


# --- Success rate per network -------------------------------------------------------------------


def success_per_network(
    results: QuerySet[PostResult], *, now: datetime | None = None, days: int = 30
) -> list[dict]:
    """Per network: SUCCESS and FAILED results of posts due in the last ``days``: one query."""
    now = now or timezone.now()
    rows = (
        results.filter(post__due_at__gte=now - timedelta(days=days), post__due_at__lt=now)
        .exclude(post__state=State.CANCELLED)
        .values("platform__network")
        .annotate(
            success=Count("pk", filter=Q(status=Status.SUCCESS)),
            failed=Count("pk", filter=Q(status=Status.FAILED)),
        )
        .order_by("platform__network")
    )
    table = []
    for row in rows:
        done = row["success"] + row["failed"]
        if done:
            table.append(
                {
                    "network": row["platform__network"],
                    "success": row["success"],
                    "failed": row["failed"],
                    "rate": round(100 * row["success"] / done),
                }
            )
    return table


def bars_chart(ident: str, table: list[dict]) -> Chart:
    row_h = 30
    height = max(1, len(table)) * row_h + TOP + BOTTOM
    left = 80
    chart = Chart(
        ident=ident,
        title=str(_("Success rate per network, last 30 days")),
        desc=str(
            "; ".join(
                str(_("%(network)s %(rate)d%% (%(success)d posted, %(failed)d failed)") % row)
                for row in table
            )
            or _("No finished posts in the last 30 days.")
        ),
        height=height,
        left=left,
        bottom_y=height - BOTTOM,
    )
    span = WIDTH - left - RIGHT - 40
    for i, row in enumerate(table):
        y = TOP + i * row_h + 4
        chart.rects.append(Rect(left, y, span, row_h - 8, "#ededed", ""))
        chart.rects.append(
            Rect(left, y, span * row["rate"] / 100, row_h - 8, "#48c78e", f"{row['rate']}%")
        )
        chart.xlabels.append((y + (row_h - 8) / 2, row["network"]))
    chart.ticks = [(left + span * p / 100, p) for p in (0, 50, 100)]
    return chart


# --- Quota per hour ----------------------------------------------------------------------------


def quota_per_hour(
    connection_ids: list[int], *, tz: tzinfo, now: datetime | None = None
) -> tuple[list[datetime], dict[int, list[int]]]:
    """Requests per local hour over the last 24 hours for each connection: one query."""
    now = now or timezone.now()
    this_hour = timezone.localtime(now, tz).replace(minute=0, second=0, microsecond=0)
    hours = [this_hour - timedelta(hours=23 - i) for i in range(24)]
    rows = (
        TaislyRequest.objects.filter(connection_id__in=connection_ids, started_at__gte=hours[0])
        .annotate(hour=TruncHour("started_at", tzinfo=tz))
        .values("connection_id", "hour")
        .annotate(n=Count("pk"))
        .order_by()
    )
    index = {h: i for i, h in enumerate(hours)}
    per: dict[int, list[int]] = {pk: [0] * 24 for pk in connection_ids}
    for row in rows:
        i = index.get(timezone.localtime(row["hour"], tz))
        if i is not None:
            per[row["connection_id"]][i] += row["n"]
    return hours, per


def quota_chart(ident: str, name: str, hours: list[datetime], counts: list[int], limit: int):
    chart = Chart(
        ident=ident,
        title=str(_("Taisly requests per hour, last 24 hours: %(name)s") % {"name": name}),
        desc=str(
            _(
                "Columns, one per hour: %(total)d requests in all, at most %(peak)d in one hour, "
                "against a limit of %(limit)d an hour."
            )
            % {"total": sum(counts), "peak": max(counts, default=0), "limit": limit}
        ),
        limit_label=str(_("limit %(limit)d") % {"limit": limit}),
    )
    scale = _axis(chart, _nice_max(max(max(counts, default=0), limit)))
    chart.limit_y = HEIGHT - BOTTOM - limit * scale
    left = chart.left
    slot = (WIDTH - left - RIGHT) / len(hours)
    for i, (hour, n) in enumerate(zip(hours, counts, strict=True)):
        if n:
            fill = "#f14668" if n >= limit else "#3e8ed0"
            chart.rects.append(
                Rect(
                    left + i * slot + 1,
                    HEIGHT - BOTTOM - n * scale,
                    slot - 2,
                    n * scale,
                    fill,
                    f"{hour:%H}:00: {n}",
                )
            )
        if i % 4 == 0 and i < len(hours) - 2:
            chart.xlabels.append((left + (i + 0.5) * slot, f"{hour:%H}"))
    chart.xlabels.append((WIDTH - RIGHT, f"{hours[-1]:%H}"))
    return chart


# --- The three together ------------------------------------------------------------------------


def chart_context(*, posts, results, connections, tz, now, prefix: str) -> dict:
    """The three charts and their tables; one aggregate query each (quota's for every listed
    connection at once)."""
    span, series = posts_per_day(posts, tz=tz, now=now)
    networks = success_per_network(results, now=now)
    hours, per = quota_per_hour([c.pk for c in connections], tz=tz, now=now)
    quota = [
        {
            "connection": c,
            "chart": quota_chart(
                f"{prefix}-quota-{c.pk}", c.workspace.name, hours, per[c.pk], c.hourly_limit
            ),
            "rows": list(zip(hours, per[c.pk], strict=True)),
        }
        for c in connections
    ]
    return {
        "days_chart": stacked_chart(f"{prefix}-days", span, series),
        "days_table": day_table(span, series),
        "outcomes": [label for _key, label, _fill in OUTCOMES],
        "networks_chart": bars_chart(f"{prefix}-networks", networks),
        "networks": networks,
        "quota": quota,
    }
