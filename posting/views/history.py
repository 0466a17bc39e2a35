"""The history list and "Sync now" (one Taisly request, used by the history and post pages).

Pages read the mirror only; the one Taisly call here is the sync the user asks for.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from accounts.access import WorkspaceAccess, get_workspace_for_user, get_workspace_for_user_rw
from accounts.models import Membership
from posting import display, sync
from posting.filters import HistoryFilterForm
from posting.gateway import TaislyActionError
from posting.models import MirrorState, Post

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


def mirror_of(workspace) -> MirrorState | None:
    return MirrorState.objects.filter(workspace=workspace).first()


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


def _back(request: HttpRequest, access: WorkspaceAccess, default: str) -> str:
    """Where to go after a sync: the page it was asked from, if it is this workspace's."""
    target = request.POST.get("next") or ""
    prefix = f"/w/{access.workspace.code}/"
    if target.startswith(prefix) and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _go(request: HttpRequest, url: str) -> HttpResponse:
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def history_summary_sentence(summary: sync.HistorySummary) -> str:
    if not summary.new_posts and not summary.changed_results and not summary.removed_posts:
        return _("Synced with Taisly: nothing changed.")
    parts = []
    if summary.new_posts:
        parts.append(
            ngettext("%(n)d new post", "%(n)d new posts", summary.new_posts)
            % {"n": summary.new_posts}
        )
    if summary.changed_results:
        parts.append(
            ngettext(
                "%(n)d platform result changed",
                "%(n)d platform results changed",
                summary.changed_results,
            )
            % {"n": summary.changed_results}
        )
    if summary.removed_posts:
        parts.append(
            ngettext(
                "%(n)d scheduled post cancelled in Taisly",
                "%(n)d scheduled posts cancelled in Taisly",
                summary.removed_posts,
            )
            % {"n": summary.removed_posts}
        )
    return _("Synced with Taisly: %(changes)s.") % {"changes": ", ".join(parts)}


@login_required
@require_POST
def history_sync(request: HttpRequest, code) -> HttpResponse:
    """Sync now: one history request covering every post that can still change."""
    # Editors and owners only: a sync spends the team's hourly Taisly quota.
    access = get_workspace_for_user_rw(request, code)
    try:
        summary = sync.history_sync(workspace=access.workspace, actor=request.user)
    except TaislyActionError as exc:
        messages.error(request, _("%(reason)s Nothing was synced.") % {"reason": exc.message})
    else:
        messages.success(request, history_summary_sentence(summary))
    default = reverse("posting:history", kwargs={"code": access.workspace.code})
    return _go(request, _back(request, access, default))
