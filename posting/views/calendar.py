"""Month and week views of a workspace's posts, on the day and hour each goes out (``due_at``),
in the viewer's time zone.

Three queries whatever the number of posts: posts per day (for "and 12 more"), the first few
posts of each day (a window function ranks them, so a busy day cannot make the page huge), and
their results (for the colour of each).
"""

from __future__ import annotations

import calendar as pycalendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Window
from django.db.models.functions import RowNumber, TruncDate
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.dates import MONTHS_3, WEEKDAYS_ABBR
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.access import get_workspace_for_user
from posting import display
from posting.models import Post, PostResult

MONTH_PER_DAY = 4
WEEK_PER_DAY = 24


@dataclass
class Entry:
    post: Post
    summary: display.Summary
    #: Precomputed: a month shows up to 168 entries, and a template filter each is most of
    #: the page's time.
    iso: str = ""
    time: str = ""
    text: str = ""


def _short(text: str, length: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


@dataclass
class Day:
    date: date
    in_range: bool
    is_today: bool
    entries: list[Entry] = field(default_factory=list)
    total: int = 0

    @property
    def iso(self) -> str:
        return self.date.isoformat()

    @property
    def weekday(self) -> str:
        return str(WEEKDAYS_ABBR[self.date.weekday()])

    @property
    def month_abbr(self) -> str:
        return str(MONTHS_3[self.date.month]).capitalize()

    @property
    def more(self) -> int:
        return max(0, self.total - len(self.entries))


#: Dates outside these years fall back to today (and previous/next cannot overflow).
_YEARS = range(1971, 9000)


def _parse_month(value: str | None, today: date) -> date:
    try:
        year, month = (int(part) for part in (value or "").split("-"))
        if year in _YEARS:
            return date(year, month, 1)
    except ValueError:
        pass
    return today.replace(day=1)


def _parse_day(value: str | None, today: date) -> date:
    try:
        day = date.fromisoformat(value or "")
    except ValueError:
        return today
    return day if day.year in _YEARS else today


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _days(workspace, first: date, last: date, per_day: int, in_range, today) -> list[Day]:
    zone = timezone.get_current_timezone()
    start = datetime.combine(first, time.min, tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone)
    local_day = TruncDate("due_at", tzinfo=zone)
    base = Post.objects.filter(workspace=workspace, due_at__gte=start, due_at__lt=end)
    totals = dict(
        base.annotate(day=local_day).values("day").annotate(n=Count("id")).values_list("day", "n")
    )
    posts = (
        base.annotate(
            day=local_day,
            rank=Window(
                RowNumber(), partition_by=[local_day], order_by=[F("due_at").asc(), F("id").asc()]
            ),
        )
        .filter(rank__lte=per_day)
        .only("id", "code", "description", "due_at", "state")
        .order_by("due_at", "id")
    )
    days = {}
    current = first
    while current <= last:
        days[current] = Day(
            current, in_range(current), current == today, total=totals.get(current, 0)
        )
        current += timedelta(days=1)
    posts = list(posts)
    # The results' statuses in one flat query: a prefetch would build a related manager and a
    # queryset per post, which for a month's 168 posts cost more than the queries themselves.
    statuses: dict[int, list[str]] = {}
    for post_id, status in PostResult.objects.filter(post__in=[p.pk for p in posts]).values_list(
        "post_id", "status"
    ):
        statuses.setdefault(post_id, []).append(status)
    states = display.labels(Post.State.choices)
    empty = _("(no description)")
    for post in posts:
        day = days.get(post.day)
        if day is not None:
            local = timezone.localtime(post.due_at)
            day.entries.append(
                Entry(
                    post,
                    display.summarise_statuses(post, statuses.get(post.pk, []), states),
                    iso=local.isoformat(),
                    time=f"{local:%H:%M}",
                    text=_short(post.description) if post.description else empty,
                )
            )
    return list(days.values())


def _weekday_names(first: date) -> list[str]:
    return [formats.date_format(first + timedelta(days=i), "D") for i in range(7)]


@login_required
@require_GET
def calendar_month(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_user(request, code)
    today = timezone.localdate()
    month = _parse_month(request.GET.get("month"), today)
    last_of_month = month.replace(day=pycalendar.monthrange(month.year, month.month)[1])
    grid_start = _monday(month)
    grid_end = _monday(last_of_month) + timedelta(days=6)
    days = _days(
        access.workspace,
        grid_start,
        grid_end,
        MONTH_PER_DAY,
        lambda d: d.month == month.month,
        today,
    )
    previous = (month - timedelta(days=1)).replace(day=1)
    following = last_of_month + timedelta(days=1)
    return render(
        request,
        "posting/calendar.html",
        {
            "access": access,
            "workspace": access.workspace,
            "view": "month",
            "month": month,
            "weeks": [days[i : i + 7] for i in range(0, len(days), 7)],
            "days": days,
            "weekdays": _weekday_names(grid_start),
            "previous": previous.strftime("%Y-%m"),
            "next": following.strftime("%Y-%m"),
            "this_month": today.strftime("%Y-%m"),
            "today": today,
            "week_of": month if month.month != today.month else today,
            "empty": not any(d.total for d in days if d.in_range),
            "zone": timezone.get_current_timezone_name(),
            # Entries link to f"{history_url}{post.code}/" (posting:post), not a {% url %} each.
            "history_url": reverse("posting:history", kwargs={"code": access.workspace.code}),
        },
    )


@login_required
@require_GET
def calendar_week(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_user(request, code)
    today = timezone.localdate()
    monday = _monday(_parse_day(request.GET.get("date"), today))
    sunday = monday + timedelta(days=6)
    days = _days(access.workspace, monday, sunday, WEEK_PER_DAY, lambda d: True, today)
    return render(
        request,
        "posting/calendar.html",
        {
            "access": access,
            "workspace": access.workspace,
            "view": "week",
            "monday": monday,
            "sunday": sunday,
            "days": days,
            "previous": (monday - timedelta(days=7)).isoformat(),
            "next": (monday + timedelta(days=7)).isoformat(),
            "this_week": _monday(today).isoformat(),
            "today": today,
            "month_of": monday.strftime("%Y-%m"),
            "empty": not any(d.total for d in days),
            "zone": timezone.get_current_timezone_name(),
            # Entries link to f"{history_url}{post.code}/" (posting:post), not a {% url %} each.
            "history_url": reverse("posting:history", kwargs={"code": access.workspace.code}),
        },
    )
