"""The repost rules page of a workspace and its actions. Views parse and render; the services in
``posting.reposts`` decide (authority included). Each action answers htmx with the part of the
page it changed, and everyone else with a redirect to the page and a message."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import (
    WorkspaceAccess,
    get_repost_rule_for_user_rw,
    get_workspace_for_user,
    get_workspace_for_user_rw,
)
from posting import reposts
from posting.forms_reposts import RepostRuleForm
from posting.models import MirrorState, Platform
from taisly_dash.htmx import HtmxHttpRequest

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
