"""The mirror's pages: the connected social accounts and the repost rules, as last read from
Taisly, with their "Sync now" buttons and the rules' actions.

Views parse and render; the services in ``posting.mirror`` decide (authority included). Each
action answers htmx with the part of the page it changed, and everyone else with a redirect to
the page and a message.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import WorkspaceAccess, get_workspace_for_user, get_workspace_for_user_rw
from accounts.models import TaislyConnection
from posting.access import get_repost_rule_for_user_rw
from posting.mirror import reposts, sync
from posting.mirror.forms import RepostRuleForm
from posting.mirror.selectors import mirror_of
from posting.models import MirrorState, Platform
from posting.taisly.gateway import TaislyActionError
from taisly_dash.htmx import HtmxHttpRequest, redirect_for


@login_required
@require_GET
def platforms(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_user(request, code)
    rows = list(
        Platform.objects.filter(workspace=access.workspace).order_by("network", "name", "id")
    )
    connection = (
        TaislyConnection.objects.filter(workspace=access.workspace).defer("api_key").first()
    )
    return render(
        request,
        "posting/platforms.html",
        {
            "access": access,
            "workspace": access.workspace,
            "current": [p for p in rows if p.gone_at is None],
            "gone": [p for p in rows if p.gone_at is not None],
            "mirror": mirror_of(access.workspace),
            "connection": connection,
        },
    )


@login_required
@require_POST
def platforms_sync(request: HttpRequest, code) -> HttpResponse:
    # Editors and owners only: a sync spends the team's hourly Taisly quota.
    access = get_workspace_for_user_rw(request, code)
    try:
        summary = sync.platforms_sync(workspace=access.workspace, actor=request.user)
    except TaislyActionError as exc:
        messages.error(request, _("%(reason)s Nothing was synced.") % {"reason": exc.message})
    else:
        messages.success(
            request,
            ngettext(
                "Synced with Taisly: %(count)d social account.",
                "Synced with Taisly: %(count)d social accounts.",
                summary.total,
            )
            % {"count": summary.total},
        )
    return redirect_for(
        request, reverse("posting:platforms", kwargs={"code": access.workspace.code})
    )


TEMPLATE = "posting/reposts.html"


def _context(access: WorkspaceAccess, *, form: RepostRuleForm | None = None, **extra) -> dict:
    workspace = access.workspace
    rules = reposts.reposts_for_page(workspace)
    usable = []
    if access.can_write:
        usable = list(
            Platform.objects.filter(
                workspace=workspace, connected=True, gone_at__isnull=True
            ).order_by("network", "name", "id")
        )
        if form is None:
            form = RepostRuleForm(platforms=usable)
    state = MirrorState.objects.filter(workspace=workspace).first()
    return {
        "access": access,
        "workspace": workspace,
        "rules": rules,
        "on_cycle": reposts.rule_graph_cycles(rules),
        "form": form,
        "can_add": len(usable) >= 2,
        "synced_at": state.reposts_synced_at if state else None,
        **extra,
    }


def _answer(
    request: HtmxHttpRequest,
    access: WorkspaceAccess,
    *,
    ok: str | None = None,
    error: str | None = None,
) -> HttpResponse:
    """The rules section with the outcome for htmx; else a redirect to the page with it."""
    if request.htmx:
        context = _context(access, notice=ok, notice_error=error)
        return render(request, f"{TEMPLATE}#rules", context)
    if error:
        messages.error(request, error)
    elif ok:
        messages.success(request, ok)
    return redirect("posting:reposts", code=access.workspace.code)


@login_required
@require_GET
def rule_list(request: HtmxHttpRequest, code) -> HttpResponse:
    access = get_workspace_for_user(request, code)
    context = _context(access)
    if request.htmx and request.htmx.target == "reposts":
        return render(request, f"{TEMPLATE}#rules", context)
    return render(request, TEMPLATE, context)


@login_required
@require_POST
def rule_add(request: HtmxHttpRequest, code) -> HttpResponse:
    """Add a rule; a refusal or a circle to confirm re-renders the form (422) with what was
    chosen, so nothing typed is lost."""
    access = get_workspace_for_user_rw(request, code)
    usable = list(
        Platform.objects.filter(
            workspace=access.workspace, connected=True, gone_at__isnull=True
        ).order_by("network", "name", "id")
    )
    form = RepostRuleForm(request.POST, platforms=usable)
    cycle_warning = None
    if form.is_valid():
        try:
            outcome = reposts.repost_add(
                workspace=access.workspace,
                actor=request.user,
                from_platform=form.cleaned_data["from_platform"],
                to_platforms=form.cleaned_data["to_platforms"],
                confirm_cycle=form.cleaned_data["confirm_cycle"],
            )
        except reposts.RepostCycleWarning as exc:
            cycle_warning = exc.message
        except reposts.RepostActionError as exc:
            form.add_error(None, exc.message)
        else:
            if request.htmx:
                context = _context(access, notice=outcome.message)
                return render(request, f"{TEMPLATE}#page", context)
            messages.success(request, outcome.message)
            return redirect("posting:reposts", code=access.workspace.code)
    context = _context(access, form=form, cycle_warning=cycle_warning)
    template = f"{TEMPLATE}#page" if request.htmx else TEMPLATE
    return render(request, template, context, status=422)


@login_required
@require_POST
def rules_sync(request: HtmxHttpRequest, code) -> HttpResponse:
    """Read Taisly's rules into the mirror: one request."""
    access = get_workspace_for_user_rw(request, code)
    try:
        stored = reposts.reposts_sync(workspace=access.workspace, actor=request.user)
    except reposts.RepostActionError as exc:
        return _answer(request, access, error=exc.message)
    return _answer(
        request,
        access,
        ok=_("Repost rules synced from Taisly (%(count)d).") % {"count": len(stored)},
    )


def _rule_action(request: HtmxHttpRequest, code, rule_id: str, service) -> HttpResponse:
    rule, access = get_repost_rule_for_user_rw(request, code, rule_id)
    try:
        outcome = service(workspace=access.workspace, actor=request.user, rule=rule)
    except reposts.RepostActionError as exc:
        return _answer(request, access, error=exc.message)
    return _answer(request, access, ok=outcome.message)


@login_required
@require_POST
def rule_pause(request: HtmxHttpRequest, code, rule_id: str) -> HttpResponse:
    return _rule_action(request, code, rule_id, reposts.repost_pause)


@login_required
@require_POST
def rule_resume(request: HtmxHttpRequest, code, rule_id: str) -> HttpResponse:
    return _rule_action(request, code, rule_id, reposts.repost_resume)


@login_required
@require_http_methods(["GET", "POST"])
def rule_delete(request: HtmxHttpRequest, code, rule_id: str) -> HttpResponse:
    """GET asks to confirm: the page with that rule's row turned into the question (with htmx,
    the row alone); POST deletes."""
    if request.method == "POST":
        return _rule_action(request, code, rule_id, reposts.repost_delete)
    rule, access = get_repost_rule_for_user_rw(request, code, rule_id)
    context = _context(access, confirming=rule.pk)
    if request.htmx:
        rule = next((r for r in context["rules"] if r.pk == rule.pk), rule)
        return render(request, f"{TEMPLATE}#rule_row", {**context, "rule": rule})
    return render(request, TEMPLATE, context)


def _back(request: HttpRequest, access: WorkspaceAccess, default: str) -> str:
    """Where to go after a sync: the page it was asked from, if it is this workspace's."""
    target = request.POST.get("next") or ""
    prefix = f"/w/{access.workspace.code}/"
    if target.startswith(prefix) and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


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
    return redirect_for(request, _back(request, access, default))
