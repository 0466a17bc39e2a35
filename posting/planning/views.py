"""Month and week views of a workspace's posts and planned drafts, on the day and hour each goes
out (``due_at``), in the viewer's time zone; what a day shows is read by
posting.planning.selectors. People who may post get a "+" on every day and hour to come (the
compose page, ``?at=`` that time) and can move a scheduled post or a draft: a drop (or its
"Move" link) opens a confirmation, and confirming runs the edit (posting.sending.edits) or
re-plans the draft (posting.sending.drafts.draft_move).

    GET  calendar/                              the month (?month=2026-05)
    GET  calendar/week/                         the week as a time grid (?date=2026-05-04)
                                                (both show the workspace's open posting slots)
    GET|POST calendar/posts/<post>/move/        ?at=2026-05-04T14:00 from a drop
    GET|POST calendar/drafts/<draft>/move/
    GET  /calendar/ and /calendar/week/         across every workspace of the person (?w=)
"""

from __future__ import annotations

import calendar as pycalendar
import re
from datetime import date, datetime, time, timedelta

from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import get_workspace_for_user, user_memberships
from accounts.inputs import FIRST_DAY, LAST_DAY, in_range, local_moment, out_of_range_sentence
from posting.access import get_draft_for_user_rw, get_post_for_user_rw
from posting.models import Post
from posting.planning.forms import MoveForm
from posting.planning.selectors import calendar_days
from posting.planning.slots import slot_times_between
from posting.sending import drafts, edits, groups
from posting.sending import selectors as sending_selectors
from posting.sending.cancel import refusal
from posting.sending.errors import PostActionError

MONTH_PER_DAY = 4
#: Open posting slots a month's day names (the rest as a count).
MONTH_SLOTS_SHOWN = 3
WEEK_PER_DAY = 24


@login_required
@require_GET
def calendar_month(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_user(request, code)
    today = timezone.localdate()
    month, problem = _parse_month(request.GET.get("month"), today)
    context = month_context(
        [access.workspace], month, today, writable=_writable(access), problem=problem
    )
    return _render(request, access, context)


@login_required
@require_GET
def calendar_week(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_user(request, code)
    today = timezone.localdate()
    day, problem = _parse_day(request.GET.get("date"), today)
    context = week_context(
        [access.workspace], day, today, writable=_writable(access), problem=problem
    )
    return _render(request, access, context)


def _writable(access) -> set[int]:
    return {access.workspace.pk} if access.can_write else set()


def _render(request: HttpRequest, access, context: dict) -> HttpResponse:
    workspace = access.workspace
    kwargs = {"code": workspace.code}
    context |= {
        "access": access,
        "workspace": workspace,
        "month_url": reverse("posting:calendar", kwargs=kwargs),
        "week_url": reverse("posting:calendar_week", kwargs=kwargs),
        # Entries link to f"{history_url}{post.code}/" (posting:post), not a {% url %} each.
        "history_url": reverse("posting:history", kwargs=kwargs),
        "movable": access.can_write,
        "across": False,
        "filter_query": "",
    }
    compose_url = reverse("posting:compose", kwargs=kwargs) if access.can_write else ""
    if compose_url:
        _compose_links(context["days"], compose_url, week=context["view"] == "week")
    _open_slots(workspace, context["days"], compose_url, week=context["view"] == "week")
    return render(
        request, "posting/calendar.html", context, status=422 if context["problem"] else 200
    )


def month_context(workspaces, month: date, today: date, *, writable, problem: str = "") -> dict:
    """What the month's template needs, of ``workspaces`` (one, or a person's across clients)."""
    last_of_month = month.replace(day=pycalendar.monthrange(month.year, month.month)[1])
    grid_start = _monday(month)
    grid_end = _monday(last_of_month) + timedelta(days=6)
    days = calendar_days(
        workspaces,
        grid_start,
        grid_end,
        per_day=MONTH_PER_DAY,
        in_range=lambda d: d.month == month.month,
        today=today,
        writable=writable,
    )
    for day in days:
        day["drop"] = day["date"] >= today  # a drop keeps the time: the form checks it
    previous = (month - timedelta(days=1)).replace(day=1)
    following = last_of_month + timedelta(days=1)
    return {
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
        "problem": problem,
    }


def week_context(workspaces, day: date, today: date, *, writable, problem: str = "") -> dict:
    """What the week's template needs: its days, each with its 24 hours (``_hours``)."""
    monday = _monday(day)
    sunday = monday + timedelta(days=6)
    days = calendar_days(
        workspaces,
        monday,
        sunday,
        per_day=WEEK_PER_DAY,
        in_range=lambda d: True,
        today=today,
        writable=writable,
    )
    now = timezone.localtime()
    for column, each in enumerate(days, start=1):
        each["column"] = column
        each["hours"] = _hours(each, column, now)
    return {
        "view": "week",
        "monday": monday,
        "sunday": sunday,
        "days": days,
        "hour_labels": [f"{hour:02d}:00" for hour in range(24)],
        "previous": (monday - timedelta(days=7)).isoformat(),
        "next": (monday + timedelta(days=7)).isoformat(),
        "this_week": _monday(today).isoformat(),
        "today": today,
        "month_of": monday.strftime("%Y-%m"),
        "empty": not any(d["total"] for d in days),
        "zone": timezone.get_current_timezone_name(),
        "problem": problem,
    }


def _hours(day, column: int, now) -> list[dict]:
    """A week day's 24 cells: each hour's entries, and what the cell is (its place in the grid,
    past, now, empty). Most cells are empty: their markup is kept to a tag or two."""
    by_hour: dict[int, list] = {}
    for entry in day["entries"]:
        by_hour.setdefault(entry["hour"], []).append(entry)
    iso = day["iso"]
    today = day["date"] == now.date()
    hours = []
    for hour in range(24):
        entries = by_hour.get(hour, [])
        past = day["date"] < now.date() or (today and hour < now.hour)
        css = [f"c{column} h{hour}"]
        if not entries:
            css.append("is-vacant")
        if past or (today and hour == now.hour):
            css.append("is-past")
        if today and hour == now.hour:
            css.append("is-now")
        hours.append(
            {
                "hour": hour,
                "label": f"{hour:02d}:00",
                "at": f"{iso}T{hour:02d}:00",
                "entries": entries,
                # A new post can go out from the next hour on (the one under way has begun).
                "open": not past and not (today and hour == now.hour),
                "css": " ".join(css),
                "compose": "",
                "add": "",
            }
        )
    return hours


def _open_slots(workspace, days, compose_url: str, *, week: bool) -> None:
    """Each day's posting slots still free and to come (``day["slots"]``; in the week, each
    hour's too), in the viewer's time: where "Add to queue" will put the next posts. A free
    slot links to compose for its time for people who may post. Taken slots show as their
    posts. Two queries, one when the workspace has no slots (posting.planning.slots)."""
    zone = timezone.get_current_timezone()
    first = datetime.combine(days[0]["date"], time.min, tzinfo=zone)
    last = datetime.combine(days[-1]["date"] + timedelta(days=1), time.min, tzinfo=zone)
    now = timezone.now()
    by_day: dict[date, list[dict]] = {}
    for moment, taken in slot_times_between(workspace, max(first, now), last):
        if taken:
            continue
        local = moment.astimezone(zone)
        at = f"{local:%Y-%m-%dT%H:%M}"
        by_day.setdefault(local.date(), []).append(
            {
                "hour": local.hour,
                "time": f"{local:%H:%M}",
                "iso": local.isoformat(),
                "compose": f"{compose_url}?at={at}" if compose_url else "",
            }
        )
    for day in days:
        found = by_day.get(day["date"], [])
        day["slots"] = found[:MONTH_SLOTS_SHOWN]
        day["slots_more"] = len(found) - len(day["slots"])
        if found:  # a phone's month hides empty days, not ones with a slot to fill
            day["css"] = f"{day['css']} has-slots"
        if week:
            for hour in day["hours"]:
                hour["slots"] = [slot for slot in found if slot["hour"] == hour["hour"]]
                if hour["slots"]:  # shown on a phone's agenda too
                    hour["css"] = hour["css"].replace(" is-vacant", "")


#: The hour a day's "+" (month) plans for, when the day has not begun.
DAY_DEFAULT_HOUR = 9


def _compose_links(days, compose_url: str, *, week: bool) -> None:
    """Each future day (month) or hour (week) gets its link to compose a post for then, in the
    viewer's time (``?at=``, read by the compose page); past ones get none. Only for people who
    may post (the caller checks)."""
    now = timezone.localtime()
    add_label = _("Plan a post for")
    for day in days:
        when = day["date"]
        if when > now.date():
            at = f"{day['iso']}T{DAY_DEFAULT_HOUR:02d}:00"
        elif when == now.date() and now.hour < 23:
            at = f"{day['iso']}T{now.hour + 1:02d}:00"
        else:
            at = ""
        day["compose"] = f"{compose_url}?at={at}" if at else ""
        if week:
            when = f"{day['weekday']} {day['number']} {day['month_abbr']}"
            for hour in day["hours"]:
                if hour["open"]:
                    hour["compose"] = f"{compose_url}?at={hour['at']}"
                    hour["add"] = f"{add_label} {when} {hour['label']}"


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


# --- Move a scheduled post or a draft (a drop on the calendar, or its "Move" link) ------------


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def move_post(request: HttpRequest, code, post_code) -> HttpResponse:
    """The confirmation of a post's move: its time then and now, and what the edit costs at
    Taisly (the edit page's own words). Confirming runs the edit (posting.sending.edits.
    post_edit) with only the time changed; the uploads worker cancels and remakes the post."""
    post, access = get_post_for_user_rw(request, code, post_code)
    if post.group_id:  # a caption group moves as one: from its lead
        lead = Post.objects.get(pk=post.group_id)
        return redirect(_with_query(move_url(access.workspace, lead), request))
    rows = [post, *sending_selectors.post_group_members(post)]
    targets = {row.pk: list(row.target_platforms.all()) for row in rows}
    platforms, description, captions = edits.current_captions(rows, targets)
    extra = {
        "post": post,
        "edit_cost": groups.edit_cost(
            len(rows), groups.caption_plan(platforms, description, captions)
        ),
        "edit_rows": len(rows),
        "back": post_page(access.workspace, post),
    }
    if not edits.can_edit(post):
        refused = refusal(post, timezone.now()) or _(
            "The video is no longer kept on the server, so this post cannot be moved."
        )
        return _move_page(
            request, access, None, post.scheduled_at, extra, error=refused, status=409
        )
    form, status = _move_form(request, post.scheduled_at)
    if request.method == "POST" and form.is_valid():
        change = edits.PostChange(
            platforms=platforms,
            description=description,
            captions=captions,
            cover_second=post.cover_second,
            scheduled_at=form.cleaned_data["moment"],
        )
        try:
            edits.post_edit(post=post, actor=request.user, change=change, request=request)
        except PostActionError as exc:
            return _move_page(
                request, access, form, post.scheduled_at, extra, error=exc.message, status=409
            )
        messages.success(
            request,
            _(
                "The move is on its way: the post is cancelled at Taisly and made again at the "
                "new time. This page shows when it is done."
            ),
        )
        return redirect(extra["back"])
    return _move_page(request, access, form, post.scheduled_at, extra, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def move_draft(request: HttpRequest, code, draft_code) -> HttpResponse:
    """The confirmation of a draft's move: it is planned for the new time; nothing goes to
    Taisly (posting.sending.drafts.draft_move)."""
    draft, access = get_draft_for_user_rw(request, code, draft_code)
    extra = {"draft": draft, "back": draft_page(access.workspace, draft)}
    if draft.sent_at is not None:
        error = _("This draft was sent or deleted already.")
        return _move_page(request, access, None, draft.scheduled_at, extra, error=error, status=409)
    form, status = _move_form(request, draft.scheduled_at)
    if request.method == "POST" and form.is_valid():
        moment = form.cleaned_data["moment"]
        try:
            drafts.draft_move(draft=draft, actor=request.user, scheduled_at=moment, request=request)
        except PostActionError as exc:
            return _move_page(
                request, access, form, draft.scheduled_at, extra, error=exc.message, status=409
            )
        messages.success(
            request,
            _("The draft is planned for %(when)s. Nothing was sent to Taisly.")
            % {"when": formats.date_format(timezone.localtime(moment), "j M Y, H:i")},
        )
        week = reverse("posting:calendar_week", kwargs={"code": access.workspace.code})
        return redirect(f"{week}?date={timezone.localtime(moment):%Y-%m-%d}")
    return _move_page(request, access, form, draft.scheduled_at, extra, status=status)


def move_url(workspace, post) -> str:
    return reverse(
        "posting:calendar_move_post", kwargs={"code": workspace.code, "post_code": post.code}
    )


def post_page(workspace, post) -> str:
    return reverse("posting:post", kwargs={"code": workspace.code, "post_code": post.code})


def draft_page(workspace, draft) -> str:
    return reverse("posting:draft", kwargs={"code": workspace.code, "draft_code": draft.code})


def _with_query(url: str, request: HttpRequest) -> str:
    query = request.GET.urlencode()
    return f"{url}?{query}" if query else url


def _move_form(request: HttpRequest, current) -> tuple[MoveForm, int]:
    """The form: as posted; or on GET with the time a drop or a link asks for (``?at=``),
    checked as if typed (a passed time says why); or with the current time. An ``at`` that
    cannot be read is said in a sentence, and the form shows the current time."""
    if request.method == "POST":
        form = MoveForm(request.POST)
    else:
        asked = request.GET.get("at")
        moment = local_moment(asked)
        if moment is not None:
            form = MoveForm({"day": f"{moment:%Y-%m-%d}", "time": f"{moment:%H:%M}"})
        else:
            start = timezone.localtime(current) if current else None
            form = MoveForm(initial={"day": start.date(), "time": start.time()} if start else {})
            if asked is not None:
                form.problem = _(
                    "The new time in the address could not be read, so the form shows the "
                    "current one."
                )
                return form, 422
    return form, 200 if not form.is_bound or form.is_valid() else 422


def _move_page(request, access, form, current, extra: dict, *, error: str = "", status: int = 200):
    """The move's page: the time now → the new one (once the form holds a good one)."""
    context = {
        "access": access,
        "workspace": access.workspace,
        "form": form,
        "current": timezone.localtime(current) if current else None,
        "new": form.cleaned_data["moment"]
        if form is not None and form.is_bound and form.is_valid()
        else None,
        "page_error": error or getattr(form, "problem", ""),
        "zone": timezone.get_current_timezone_name(),
        **extra,
    }
    return render(request, "posting/calendar_move.html", context, status=status)


# --- Across clients: one calendar over every workspace of the person --------------------------


@login_required
@require_GET
def calendar_everywhere(request: HttpRequest, *, week: bool = False) -> HttpResponse:
    """The month (or ``week``) across every workspace the user is a member of (``?w=`` to
    choose some)."""
    today = timezone.localdate()
    if week:
        day, problem = _parse_day(request.GET.get("date"), today)
        return _everywhere(
            request,
            lambda shown, writable: week_context(
                shown, day, today, writable=writable, problem=problem
            ),
        )
    month, problem = _parse_month(request.GET.get("month"), today)
    return _everywhere(
        request,
        lambda shown, writable: month_context(
            shown, month, today, writable=writable, problem=problem
        ),
    )


#: At most this many ``?w=`` are read (a person's workspaces; a URL may repeat anything).
MAX_FILTERED = 200


def _everywhere(request: HttpRequest, context_for) -> HttpResponse:
    """Each entry names its workspace and links to its own workspace's pages; members only (a
    staff member sees their own memberships here, oversight is elsewhere). A workspace that asks
    for two-factor sign-in the user has not set up is left out and said to be (as
    ``alerts_everywhere`` does); the queries are the same whatever the number of workspaces."""
    memberships = user_memberships(request)
    needs_check = any(m.workspace.require_2fa for m in memberships)
    has_2fa = is_mfa_enabled(request.user) if needs_check else True
    # Only the person's own codes choose anything; none of them (or an outsider's): all.
    asked = set(request.GET.getlist("w")[:MAX_FILTERED])
    wanted = asked & {str(m.workspace.code) for m in memberships}
    if asked - wanted:  # said, as the failure inbox says it
        if wanted:
            not_yours = _("A workspace in the address is not one of yours, so it is left out.")
        else:
            not_yours = _(
                "A workspace in the address is not one of yours, so the calendar shows all of "
                "your workspaces."
            )
    else:
        not_yours = ""
    choices, shown, writable, locked = [], [], set(), []
    for membership in memberships:
        workspace = membership.workspace
        code = str(workspace.code)
        if workspace.require_2fa and not has_2fa:
            locked.append(workspace.name)
            choices.append({"code": code, "name": workspace.name, "checked": False, "locked": True})
            continue
        checked = not wanted or code in wanted
        choices.append({"code": code, "name": workspace.name, "checked": checked, "locked": False})
        if checked:
            shown.append(workspace)
            if membership.can_write:
                writable.add(workspace.pk)
    context = context_for(shown, writable)
    context["problem"] = " ".join(filter(None, (context["problem"], not_yours)))
    context |= {
        "across": True,
        "choices": choices,
        "locked": locked,
        "movable": bool(writable),
        "month_url": reverse("calendar_everywhere"),
        "week_url": reverse("calendar_everywhere_week"),
        "filter_query": "".join(
            f"&w={choice['code']}" for choice in choices if wanted and choice["checked"]
        ),
    }
    return render(
        request, "posting/calendar.html", context, status=422 if context["problem"] else 200
    )
