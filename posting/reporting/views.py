"""The reporting pages: a workspace's history list and charts, and the agency overview.

Pages read the mirror only (posting.reporting.selectors); "Sync now" is posting.mirror's.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access import get_workspace_for_user, two_factor_locked_ids, user_memberships
from posting.mirror.selectors import mirror_of
from posting.models.drafts import waiting_count
from posting.reporting import failures, selectors
from posting.reporting.filters import HistoryFilterForm

PAGE_SIZE = 20
#: The list counts at most this many matches (then says "more than"): an exact count of a big
#: history is the slowest query of the page, and deep pages are better reached by filters.
COUNT_CAP = 1000
#: Workspaces on one page of the agency overview (and of staff oversight's health list).
OVERVIEW_PAGE_SIZE = 50


@login_required
@require_GET
def history(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_user(request, code)
    workspace = access.workspace
    form = HistoryFilterForm(
        request.GET or None, memberships=selectors.workspace_members(workspace)
    )
    posts = selectors.history_posts(workspace)
    status = 200
    if form.is_bound:
        # A filter that cannot be read is named and left out; the list stays, narrowed by the
        # others (a 422, so htmx and tests can tell).
        posts = form.apply(posts)
        if form.errors:
            status = 422
    page, rows = selectors.history_page(
        posts, request.GET.get("page"), per_page=PAGE_SIZE, cap=COUNT_CAP
    )
    context = {
        "access": access,
        "workspace": workspace,
        "form": form,
        "page": page,
        "rows": rows,
        "mirror": mirror_of(workspace),
        "sync_next": request.get_full_path(),
        # Rows link to f"{history_url}{post.code}/" (posting:post), not a {% url %} each.
        "history_url": reverse("posting:history", kwargs={"code": workspace.code}),
    }
    template = "posting/history.html"
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    return render(request, template, context, status=status)


@login_required
@require_GET
def workspace_charts(request: HttpRequest, code) -> HttpResponse:
    """Queries: session, user, access (membership + workspace), the connection, posts per day,
    results per network, requests per hour; then the navigation's."""
    access = get_workspace_for_user(request, code)
    workspace = access.workspace
    context = selectors.workspace_charts(
        workspace, tz=timezone.get_current_timezone(), now=timezone.now()
    )
    return render(
        request,
        "posting/charts.html",
        {"access": access, "workspace": workspace, **context},
    )


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The agency overview: one row per workspace of the user, the one needing attention first
    (posting.reporting.health). The current workspace lives in the URL (``/w/<code>/``), so this
    page is where one is chosen; the navigation's switcher does the same from any page."""
    page = selectors.member_workspaces(
        request.user,
        request.GET.get("page"),
        per_page=OVERVIEW_PAGE_SIZE,
        now=timezone.now(),
        tz=timezone.get_current_timezone(),
    )
    waiting = waiting_count(request.user, user_memberships(request))
    context = {"page": page, "rows": page.object_list, "reviews_waiting": waiting}
    return render(request, "home.html", context)


@login_required
@require_GET
def failure_inbox(request: HttpRequest) -> HttpResponse:
    """Failed posts across every workspace of the user, not looked at yet first (the post page,
    where retry lives, marks them seen). Workspaces that ask for two-factor sign-in the user
    has not set up are named and locked, as on the agency overview and alerts_everywhere."""
    memberships = user_memberships(request)
    locked = two_factor_locked_ids(request.user, memberships)
    open_workspaces = [m.workspace for m in memberships if m.workspace_id not in locked]
    data = request.GET.copy()
    data.setdefault("show", failures.SHOW_ALL)
    form = failures.FailureFilterForm(data, workspaces=open_workspaces)
    status = 200 if form.is_valid() else 422
    page, entries = failures.inbox_page(
        memberships, locked=locked, form=form, number=request.GET.get("page")
    )
    unseen = failures.unseen_by_workspace(open_workspaces)
    context = {
        "form": form,
        "page": page,
        "entries": entries,
        "workspaces": [(w, unseen.get(w.pk, 0)) for w in open_workspaces],
        "locked": [m.workspace for m in memberships if m.workspace_id in locked],
        "unseen_total": sum(unseen.values()),
    }
    return render(request, "posting/failures.html", context, status=status)
