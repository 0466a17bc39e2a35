"""The history list and "Sync now" (one Taisly request, used by the history and post pages).

Pages read the mirror only; the one Taisly call here is the sync the user asks for.


A workspace's charts: posts per day by outcome, success per network, quota per hour.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import F, OuterRef
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.views.decorators.http import require_GET

from accounts.access import get_workspace_for_user
from accounts.models import Membership, TaislyConnection, Workspace
from posting.mirror.selectors import mirror_of
from posting.models import Post, PostResult
from posting.reporting import charts, display, health
from posting.reporting.filters import HistoryFilterForm

PAGE_SIZE = 20
#: The list counts at most this many matches (then says "more than"): an exact count of a big
#: history is the slowest query of the page, and deep pages are better reached by filters.
COUNT_CAP = 1000


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


@login_required
@require_GET
def history(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_user(request, code)
    workspace = access.workspace
    memberships = list(
        Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by("user__display_name", "user__email")
    )
    form = HistoryFilterForm(request.GET or None, memberships=memberships)
    posts = Post.objects.filter(workspace=workspace).order_by("-created_at", "-id")
    status = 200
    if form.is_bound and not form.is_valid():
        posts, status = posts.none(), 422
    elif form.is_bound:
        posts = form.apply(posts)
    page = CappedPaginator(
        display.for_list(posts), PAGE_SIZE, counted=posts, cap=COUNT_CAP
    ).get_page(request.GET.get("page"))
    context = {
        "access": access,
        "workspace": workspace,
        "form": form,
        "page": page,
        "rows": display.list_rows(page.object_list),
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
    connections = list(
        TaislyConnection.objects.filter(workspace=workspace)
        .select_related("workspace")
        .defer("api_key")
    )
    context = charts.chart_context(
        posts=Post.objects.filter(workspace=workspace),
        results=PostResult.objects.filter(post__workspace=workspace),
        connections=connections,
        tz=timezone.get_current_timezone(),
        now=timezone.now(),
        prefix="w",
    )
    return render(
        request,
        "posting/charts.html",
        {"access": access, "workspace": workspace, **context},
    )


#: Workspaces on one page of the agency overview (and of staff oversight's health list).
OVERVIEW_PAGE_SIZE = 50


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The agency overview: one row per workspace of the user, the one needing attention first
    (posting.reporting.health). The current workspace lives in the URL (``/w/<code>/``), so this
    page is where one is chosen; the navigation's switcher does the same from any page."""
    now = timezone.now()
    members = Membership.objects.filter(workspace=OuterRef("pk"))
    workspaces = health.by_attention(
        health.with_health(
            Workspace.objects.filter(memberships__user=request.user), user=request.user, now=now
        ).annotate(role=F("memberships__role"), members_count=health.count_of(members, "workspace"))
    )
    page = Paginator(workspaces, OVERVIEW_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    sparks = health.sparklines([w.pk for w in rows], tz=timezone.get_current_timezone(), now=now)
    roles = dict(Membership.Role.choices)
    for workspace in rows:
        workspace.spark = sparks[workspace.pk]
        workspace.role_label = roles.get(workspace.role, "")
    return render(request, "home.html", {"page": page, "rows": rows})
