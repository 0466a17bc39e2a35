"""Month and week views of a workspace's posts, on the day and hour each goes out (``due_at``),
in the viewer's time zone. What a day shows is read by posting.planning.selectors.
"""

from __future__ import annotations

import calendar as pycalendar
import re
from datetime import date, timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.access import get_workspace_for_user
from accounts.inputs import FIRST_DAY, LAST_DAY, in_range, out_of_range_sentence
from posting.planning.selectors import calendar_days

MONTH_PER_DAY = 4
WEEK_PER_DAY = 24


@login_required
@require_GET
def calendar_month(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_user(request, code)
    today = timezone.localdate()
    month, problem = _parse_month(request.GET.get("month"), today)
    last_of_month = month.replace(day=pycalendar.monthrange(month.year, month.month)[1])
    grid_start = _monday(month)
    grid_end = _monday(last_of_month) + timedelta(days=6)
    days = calendar_days(
        [access.workspace],
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
            "problem": problem,
        },
        status=422 if problem else 200,
    )


@login_required
@require_GET
def calendar_week(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_user(request, code)
    today = timezone.localdate()
    day, problem = _parse_day(request.GET.get("date"), today)
    monday = _monday(day)
    sunday = monday + timedelta(days=6)
    days = calendar_days(
        [access.workspace],
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
            "problem": problem,
        },
        status=422 if problem else 200,
    )


#: A month in the URL: four digits, a dash, one or two (what the page's own links write).
_MONTH = re.compile(r"(\d{4})-(\d{1,2})", re.ASCII)


def _parse_month(value: str | None, today: date) -> tuple[date, str]:
    """The first of the month named by ``value`` ("2026-05"), and "" ; or, for a value that
    names no month within the bounds (accounts.inputs), this month and a sentence saying so."""
    if value is None:
        return today.replace(day=1), ""
    match = _MONTH.fullmatch(value)
    if match:
        year, month = int(match[1]), int(match[2])
        # Year 0 is no year at all to ``date``: the bounds' years are checked before it is made.
        if (
            1 <= month <= 12
            and FIRST_DAY.year <= year <= LAST_DAY.year
            and in_range(date(year, month, 1))
        ):
            return date(year, month, 1), ""
        real = 1 <= month <= 12  # a month, only outside the bounds
    else:
        real = False
    return today.replace(day=1), _unreadable(value, month=True, real=real)


def _parse_day(value: str | None, today: date) -> tuple[date, str]:
    """The day named by ``value`` ("2026-05-04"), and ""; or today and a sentence."""
    if value is None:
        return today, ""
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        day = None
    if day is not None and in_range(day) and in_range(_monday(day)):
        return day, ""
    return today, _unreadable(value, month=False, real=day is not None)


def _unreadable(value: str, *, month: bool, real: bool) -> str:
    """Why the calendar shows this month (week) instead: ``value`` is no month (date) at all
    (2026-02-30), or a ``real`` one outside the bounds, which are then named."""
    # Quoted back, but short and printable: a URL may carry anything.
    shown = "".join(ch if ch.isprintable() else "\ufffd" for ch in value[:20])
    shown += "…" if len(value) > 20 else ""
    if not real:
        if month:
            sentence = _(
                "“%(value)s” is not a month (they are written 2026-05), so the calendar "
                "shows this month."
            )
        else:
            sentence = _(
                "“%(value)s” is not a date (they are written 2026-05-04), so the "
                "calendar shows this week."
            )
        return sentence % {"value": shown}
    if month:
        sentence = _("“%(value)s” is not a month the calendar can show, so it shows this month.")
    else:
        sentence = _("“%(value)s” is not a day the calendar can show, so it shows this week.")
    return f"{sentence % {'value': shown}} {out_of_range_sentence()}"


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _weekday_names(first: date) -> list[str]:
    return [formats.date_format(first + timedelta(days=i), "D") for i in range(7)]
