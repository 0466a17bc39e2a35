"""Month and week views of a workspace's posts, on the day and hour each goes out (``due_at``),
in the viewer's time zone. What a day shows is read by posting.planning.selectors.
"""

from __future__ import annotations

import calendar as pycalendar
from datetime import date, timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats, timezone
from django.views.decorators.http import require_GET

from accounts.access import get_workspace_for_user
from posting.planning.selectors import calendar_days

MONTH_PER_DAY = 4
WEEK_PER_DAY = 24

#: Dates outside these years fall back to today (and previous/next cannot overflow).
_YEARS = range(1971, 9000)


@login_required
@require_GET
def calendar_month(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_user(request, code)
    today = timezone.localdate()
    month = _parse_month(request.GET.get("month"), today)
    last_of_month = month.replace(day=pycalendar.monthrange(month.year, month.month)[1])
    grid_start = _monday(month)
    grid_end = _monday(last_of_month) + timedelta(days=6)
    days = calendar_days(
        access.workspace,
        grid_start,
        grid_end,
        per_day=MONTH_PER_DAY,
        in_range=lambda d: d.month == month.month,
        today=today,
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
            "days": days,
            "weekdays": _weekday_names(grid_start),
            "previous": previous.strftime("%Y-%m"),
            "next": following.strftime("%Y-%m"),
            "this_month": today.strftime("%Y-%m"),
            "today": today,
            "week_of": month if month.month != today.month else today,
            "empty": not any(d["total"] for d in days if d["in_range"]),
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
    days = calendar_days(
        access.workspace,
        monday,
        sunday,
        per_day=WEEK_PER_DAY,
        in_range=lambda d: True,
        today=today,
    )
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
            "empty": not any(d["total"] for d in days),
            "zone": timezone.get_current_timezone_name(),
            # Entries link to f"{history_url}{post.code}/" (posting:post), not a {% url %} each.
            "history_url": reverse("posting:history", kwargs={"code": access.workspace.code}),
        },
    )


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


def _weekday_names(first: date) -> list[str]:
    return [formats.date_format(first + timedelta(days=i), "D") for i in range(7)]
