"""Review pages for members (issue 18). Views parse and render; ``services`` decides who may.

POST reviews/new/                 the compose form's "Submit for review": saved as a draft
                                  (``posting.sending``), then submitted
POST drafts/<draft>/submit/       the draft page's "Submit for review": saved, then submitted
POST drafts/<draft>/decide/       Approve / Request changes, with a comment
POST drafts/<draft>/watch/        Watch / Stop watching (``watching`` 1 or 0)
GET  reviews/                     the workspace's posts in review
POST reviews/workflow/            the owners' choice of workflow (the settings page's form)
GET  reviews/badge/               the nav's count of posts waiting for my decision (htmx)
GET  /reviews/                    the posts waiting for me in all my workspaces
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from accounts.access import (
    get_workspace_for_owner,
    get_workspace_for_user,
    get_workspace_for_user_rw,
    user_memberships,
)
from accounts.models import Workspace
from posting.access import get_draft_for_user, get_draft_for_user_rw
from posting.alerts import watchers
from posting.approvals import selectors, services
from posting.models import Draft
from posting.sending import views as sending
from posting.sending.errors import PostActionError
from posting.sending.forms import ComposeForm
from taisly_dash.htmx import HtmxHttpRequest, redirect_for
from taisly_dash.request_body import accepts_files

#: Posts on one page of a review queue.
QUEUE_PAGE_SIZE = 25


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[
            ("approve", gettext_lazy("Approve")),
            ("changes", gettext_lazy("Request changes")),
        ]
    )
    comment = forms.CharField(
        label=gettext_lazy("Comment"),
        required=False,
        max_length=services.COMMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": services.COMMENT_MAX}),
    )


class WorkflowForm(forms.Form):
    workflow = forms.ChoiceField(
        label=gettext_lazy("Approval workflow"), choices=Workspace.ApprovalWorkflow.choices
    )


# --- submitting ------------------------------------------------------------------------------


@accepts_files(sending.VIDEO_UPLOAD)
@csrf_exempt  # checked in _review_new, once it is known who may post
@never_cache
@login_required
@require_POST
def review_new(request: HtmxHttpRequest, code) -> HttpResponse:
    """The compose form's "Submit for review": a draft is saved (nothing goes to Taisly), then
    submitted."""
    access = get_workspace_for_user_rw(request, code)
    return sending.with_upload(
        request,
        access,
        lambda: ComposeForm(workspace=access.workspace),
        lambda: _review_new(request, access),
    )


@csrf_protect
def _review_new(request: HtmxHttpRequest, access) -> HttpResponse:
    saved = sending.draft_create_from_form(request, access, for_review=True)
    if not isinstance(saved, Draft):
        return saved  # the form again, with what is wrong
    return _submit(request, saved)


@accepts_files(sending.VIDEO_UPLOAD)
@csrf_exempt  # checked in _draft_submit, once it is known who may write
@never_cache
@login_required
@require_POST
def draft_submit(request: HtmxHttpRequest, code, draft_code) -> HttpResponse:
    """The draft page's "Submit for review": save what the form says, then submit it."""
    draft, access = get_draft_for_user_rw(request, code, draft_code)
    return sending.with_upload(
        request,
        access,
        lambda: sending.draft_form(draft),
        lambda: _draft_submit(request, access, draft),
        frees=draft.video_size if draft.video else 0,
    )


@csrf_protect
def _draft_submit(request: HtmxHttpRequest, access, draft: Draft) -> HttpResponse:
    saved = sending.draft_update_from_form(request, access, draft, for_review=True)
    if not isinstance(saved, Draft):
        return saved
    return _submit(request, saved)


def _submit(request: HtmxHttpRequest, draft: Draft) -> HttpResponse:
    try:
        services.submit_for_review(draft=draft, actor=request.user, request=request)
    except services.ReviewError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Submitted for review. Nothing is sent to Taisly until it is approved."),
        )
    return redirect_for(request, sending.draft_url(draft))


# --- deciding --------------------------------------------------------------------------------


@never_cache
@login_required
@require_POST
def draft_decide(request: HttpRequest, code, draft_code) -> HttpResponse:
    """Approve or request changes. Who may is the service's to say (under lock); a member who
    may not gets the 403 page with the reason."""
    draft, access = get_draft_for_user(request, code, draft_code)
    membership = access.membership
    if membership is None or not (membership.can_write or membership.can_approve):
        raise PermissionDenied  # no reviewer at all (the service decides the rest, under lock)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        if "comment" in form.errors:
            messages.error(
                request,
                _("The comment is too long: at most %(limit)d characters.")
                % {"limit": services.COMMENT_MAX},
            )
        else:
            messages.error(request, _("Choose Approve or Request changes."))
        return redirect(sending.draft_url(draft))
    try:
        outcome = services.decide(
            draft_id=draft.pk,
            decision=form.cleaned_data["decision"],
            comment=form.cleaned_data["comment"],
            by_user=request.user,
            seen=(request.POST.get("seen") or "")[:40] or None,
            request=request,
        )
    except PostActionError as exc:
        # Refused, or the last approval could not send (an account went away meanwhile): the
        # decision was rolled back with its transaction and the post still waits for review.
        messages.error(request, exc.message)
        return redirect(sending.draft_url(draft))
    messages.success(request, outcome.message)
    if outcome.post is not None:
        return redirect(sending.post_url(outcome.post))
    return redirect(sending.draft_url(draft))


# --- watching --------------------------------------------------------------------------------


@never_cache
@login_required
@require_POST
def draft_watch(request: HttpRequest, code, draft_code) -> HttpResponse:
    """The draft page's "Watch" / "Stop watching": an outsider gets the 404 of any draft of
    the workspace; who may watch is the service's to say, under lock (staff looking in: 403)."""
    draft, _access = get_draft_for_user(request, code, draft_code)
    choice = request.POST.get("watching", "")
    if choice not in ("0", "1"):
        messages.error(request, _("Choose Watch or Stop watching."))
        return redirect_for(request, sending.draft_url(draft))
    try:
        watching = watchers.watch_set(draft=draft, actor=request.user, watching=choice == "1")
    except watchers.WatchError as exc:
        messages.error(request, exc.message)
        return redirect_for(request, sending.draft_url(draft))
    if watching:
        messages.success(
            request, _("You are watching this draft: you hear of its decisions and comments.")
        )
    elif draft.author_id == request.user.pk:
        messages.success(
            request,
            _(
                "You stopped watching this draft. As its author you still hear when changes are "
                "requested or it is held."
            ),
        )
    else:
        messages.success(
            request,
            _("You stopped watching this draft: its decisions and comments no longer reach you."),
        )
    return redirect_for(request, sending.draft_url(draft))


# --- the queues ------------------------------------------------------------------------------


@never_cache
@login_required
@require_GET
def review_queue(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_user(request, code)
    page = selectors.workspace_queue(
        access.workspace, request.GET.get("page"), per_page=QUEUE_PAGE_SIZE
    )
    for draft in page.object_list:
        draft.mine_to_decide = draft.may_decide(access.membership)
    context = {"access": access, "workspace": access.workspace, "page": page}
    return render(request, "posting/approvals/queue.html", context)


@never_cache
@login_required
@require_GET
def review_badge(request: HttpRequest, code) -> HttpResponse:
    """The nav's count of this workspace's posts waiting for my decision (htmx loads it, so no
    page pays its query; without JavaScript the Review link alone)."""
    access = get_workspace_for_user(request, code)
    mine = [access.membership] if access.membership is not None else []
    count = selectors.waiting_count(request.user, mine)
    return render(request, "posting/approvals/queue.html#badge", {"waiting": count})


@never_cache
@login_required
@require_GET
def reviews_everywhere(request: HttpRequest) -> HttpResponse:
    """The posts waiting for my decision in all my workspaces (an agency's reviewers)."""
    memberships = user_memberships(request)
    page = selectors.everywhere_queue(
        request.user, memberships, request.GET.get("page"), per_page=QUEUE_PAGE_SIZE
    )
    return render(request, "posting/approvals/everywhere.html", {"page": page})


# --- the workflow ----------------------------------------------------------------------------


@login_required
@require_POST
def workflow_set(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_owner(request, code)
    settings_url = reverse("accounts:workspace_settings", kwargs={"code": access.workspace.code})
    form = WorkflowForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose one of the workflows offered."))
        return redirect(settings_url)
    moved = services.workflow_set(
        workspace=access.workspace,
        actor=request.user,
        workflow=form.cleaned_data["workflow"],
        request=request,
    )
    messages.success(request, _("The approval workflow is saved."))
    for gap in access.workspace.approval_gaps():
        messages.warning(request, gap)
    if moved and form.cleaned_data["workflow"] == Workspace.ApprovalWorkflow.NONE:
        messages.info(
            request,
            _(
                "Posts that were waiting for review are drafts again; their authors are told "
                "and may post them."
            ),
        )
    return redirect(settings_url)
