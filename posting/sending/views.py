"""Compose a post and follow its upload: the form, the forward's progress, and what a person
decides when the forward failed. Views parse and render; the services of ``posting.sending``
decide (``receive``, ``decisions``, ``reconcile``, ``retry``, ``cancel``, ``seen``).

    GET  new/                 the form (editors and owners; viewers 403); ?at=2026-12-08T14:00
                              (the calendar's "+") starts it at "Schedule" for then
    POST new/                 streamed in through LimitedTemporaryFileUploadHandler (at most
                              POST_UPLOADS_PER_USER at once per person), probed, queued → the
                              post page (HX-Redirect for htmx)
    GET  <post>/progress/     the post page's live part (post.html#live: status, results,
                              progress, actions), polled with a back-off (posting.sending.live)
                              until every platform has settled; without htmx: the post page
    POST <post>/retry-send/   SEND_FAILED → QUEUED
    POST <post>/adopt/ | send-again/ | give-up/ | recheck/   NEEDS_CHECK decisions


One post's page (every detail, per-platform results, audit trail), the failures it showed marked
seen (``POST <post>/seen/``, sent by the page once shown), and cancelling it. Its thumbnail
(``GET <post>/thumbnail/``), to members only; a draft's likewise
(``GET drafts/<draft>/thumbnail/``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.db.models import prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.cache import patch_cache_control
from django.utils.dates import WEEKDAYS
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import WorkspaceAccess, get_workspace_for_user, get_workspace_for_user_rw
from accounts.inputs import local_moment
from posting.access import (
    get_draft_for_user,
    get_draft_for_user_rw,
    get_post_for_user,
    get_post_for_user_rw,
)
from posting.alerts import watchers
from posting.mirror.selectors import hints_for, mirror_of, repost_hints
from posting.models import SLOTS_MAX, Draft, Post, PostingSlot, ReviewStage, ReviewState
from posting.reporting import display
from posting.sending import (
    decisions,
    drafts,
    edits,
    groups,
    limits,
    live,
    probe,
    queue,
    ranged,
    receive,
    reconcile,
    rereview,
    retry,
    seen,
    selectors,
    slots,
    thumbnails,
)
from posting.sending.cancel import can_cancel, post_cancel
from posting.sending.errors import PostActionError
from posting.sending.forms import (
    ComposeForm,
    DraftForm,
    EditForm,
    PostFieldsForm,
    SlotForm,
    initial_from,
)
from posting.sending.uploadhandlers import LimitedTemporaryFileUploadHandler
from taisly_dash.htmx import HtmxHttpRequest, redirect_for
from taisly_dash.request_body import UploadPolicy, accepts_files, body_length

logger = logging.getLogger(__name__)

FORM_OVERHEAD_BYTES = 64 * 1024
HTMX_STOP_POLLING = 286


# --- Compose ----------------------------------------------------------------------------------


#: The compose form's body: the video and a little for the other fields.
VIDEO_UPLOAD = UploadPolicy(
    handlers=lambda request: [LimitedTemporaryFileUploadHandler(request)],
    max_body_bytes=lambda: probe.max_video_bytes() + FORM_OVERHEAD_BYTES,
    too_large=probe.too_large_sentence,
)


@accepts_files(VIDEO_UPLOAD)
@csrf_exempt  # the CSRF check happens in _compose, once it is known who may post
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def compose(request: HtmxHttpRequest, code) -> HttpResponse:
    # Authority first: a viewer's upload is refused before a byte of it is read.
    access = get_workspace_for_user_rw(request, code)
    if request.method != "POST":
        return _compose(request, access)
    return with_upload(
        request,
        access,
        lambda: ComposeForm(workspace=access.workspace),
        lambda: _compose(request, access),
    )


@csrf_protect
def _compose(request: HtmxHttpRequest, access: WorkspaceAccess) -> HttpResponse:
    workspace = access.workspace
    if request.method != "POST":
        initial, unusable = _planned_for(request.GET.get("at"))
        if unusable:
            messages.warning(request, unusable)
        form = ComposeForm(workspace=workspace, initial=initial)
        return _render_form(request, access, form)

    form = ComposeForm(request.POST, request.FILES, workspace=workspace)
    facts, refused = _checked_upload(request, access, form)
    if refused is not None:
        return refused

    try:
        post = receive.post_create(
            workspace=workspace,
            actor=request.user,
            video=form.cleaned_data["video"],
            facts=facts,
            platforms=list(form.cleaned_data["platforms"]),
            description=form.cleaned_data["description"],
            captions=form.cleaned_data["captions"],
            cover_second=form.cleaned_data["cover_second"],
            scheduled_at=form.cleaned_data["scheduled_at"],
            token=form.cleaned_data["token"],
            queue=form.cleaned_data["queue"],
            request=request,
        )
    except PostActionError as exc:
        form.add_error(None, exc.message)
        return _render_form(request, access, form, status=422)

    if post.from_queue and post.scheduled_at:
        messages.success(
            request,
            _("The video is uploaded and added to the queue for %(when)s.")
            % {"when": slot_label(post.scheduled_at, access.workspace)},
        )
    else:
        messages.success(request, _("The video is uploaded and queued for Taisly."))
    _say_if_cover_moved(request, form.cleaned_data["cover_second"], post)
    url = reverse("posting:post", kwargs={"code": workspace.code, "post_code": post.code})
    # The page becomes the post's page (its title, breadcrumb and actions), which follows the
    # upload, the send and each network's result by itself; a reload or a bookmark finds it.
    return redirect_for(request, url)


def _planned_for(at: str | None) -> tuple[dict, str]:
    """The form's "Schedule" time from the calendar's "+" (``?at=2026-12-08T14:00``, the
    viewer's time), and "": used when it is to come and within the schedule's horizon. A time
    that has passed (a calendar left open), is too far or is unreadable starts the form at
    "Schedule" with no time, and a sentence saying why (the page says it, nothing is lost)."""
    if at is None:
        return {}, ""
    moment = local_moment(at)
    now = timezone.now()
    later = {"when": PostFieldsForm.WHEN_LATER}
    if moment is None:
        return later, _("The calendar's time could not be read: pick a time under “Schedule”.")
    if moment <= now:
        return later, _("That time has passed: pick a new one under “Schedule”.")
    if moment - now > timedelta(days=settings.POST_SCHEDULE_MAX_DAYS):
        return later, _(
            "That time is more than %(days)s days ahead: pick one sooner under “Schedule”."
        ) % {"days": settings.POST_SCHEDULE_MAX_DAYS}
    return {**later, "scheduled_at": timezone.localtime(moment)}, ""


def _checked_upload(
    request: HtmxHttpRequest, access: WorkspaceAccess, form, *, required: bool = True
) -> tuple[probe.VideoFacts | None, HttpResponse | None]:
    """The form checked and its video probed: (facts, None), or (None, the form's page with
    what is wrong). Without a video (a draft's page, where it is optional): (None, None)."""
    if getattr(request, "upload_too_large", False):
        form.is_valid()  # keep what was typed before the file; the file itself is gone
        form.errors.pop("video", None)
        form.add_error("video", probe.too_large_sentence())
        return None, _render_form(request, access, form, status=413)
    if not form.is_valid():
        return None, _render_form(request, access, form, status=422)
    video = form.cleaned_data.get("video")
    if not video and not required:
        return None, None
    try:
        if not isinstance(video, TemporaryUploadedFile):  # the handler above always makes one
            raise probe.VideoRejected(_("The upload could not be read. Try again."), code="upload")
        facts = probe.probe_video(video.temporary_file_path(), name=video.name, size=video.size)
    except probe.VideoRejected as exc:
        form.add_error("video", exc.message)
        return None, _render_form(request, access, form, status=422)
    return facts, None


def _render_form(
    request: HtmxHttpRequest,
    access: WorkspaceAccess,
    form: PostFieldsForm,
    *,
    status: int = 200,
    error: str | None = None,
    template: str = "posting/compose.html",
    extra: dict | None = None,
) -> HttpResponse:
    workspace = access.workspace
    selected = {str(v) for v in (form["platforms"].value() or [])}
    platforms = selectors.compose_platforms(workspace)
    now = timezone.localtime()
    state = selectors.compose_state(workspace)
    reposts = repost_hints(workspace)
    context = {
        "access": access,
        "workspace": workspace,
        "form": form,
        "page_error": error,
        "platforms": platforms,
        "selected": selected,
        "has_key": state.has_key,
        "now_local": now,
        "timezone_name": timezone.get_current_timezone_name(),
        "max_bytes": probe.max_video_bytes(),
        "max_mb": probe.max_video_mb_label(),
        "min_seconds": probe.MIN_SECONDS,
        "max_seconds": probe.MAX_SECONDS,
        "ratio_tolerance": probe.RATIO_TOLERANCE,
        "extensions": ",".join(sorted(probe.CONTAINERS)),
        "browser_messages": probe.browser_messages(),
        "storage": state.storage,
        "uploads_per_user": settings.POST_UPLOADS_PER_USER,
        "reposts": reposts,
        # The rules the accounts as chosen trigger (the read-only draft page's sentence).
        "repost_notes": hints_for(reposts, selected),
        "cost": _cost(form, platforms),
        # With an approval workflow, the compose form's main button submits for review.
        "review_url": (
            reverse("posting:review_new", kwargs={"code": workspace.code})
            if workspace.approval_workflow != "none"
            else ""
        ),
        # "Add to queue": the slot it would take now (a forecast; the service decides).
        "next_slot": slot_label(next_slot, workspace)
        if (next_slot := slots.next_free_slot(workspace))
        else "",
        "workspace_zone": workspace.time_zone,
        **(extra or {}),
    }
    if request.htmx and request.method == "POST":
        template += "#compose-form"
    return render(request, template, context, status=status)


def uuid_or_none(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)[:40])
    except ValueError:
        return None


def slot_label(moment: datetime, workspace) -> str:
    """A slot's time as people read it, in the workspace's time zone: "Tue 8 Dec 09:00"."""
    local = moment.astimezone(slots.zone_of(workspace))
    return formats.date_format(local, "D j M H:i")


def _cost(form: PostFieldsForm, platforms) -> groups.Cost | None:
    """What sending the choices as submitted would cost (None before a submit: the page's
    script counts it while the form is filled in)."""
    plan = _form_plan(form, platforms) if form.is_bound else None
    return groups.send_cost(plan) if plan is not None else None


def _form_plan(form: PostFieldsForm, platforms) -> list[groups.CaptionGroup]:
    """The Taisly posts the form's values (submitted or initial) make."""
    chosen = {str(v) for v in (form["platforms"].value() or [])}
    picked = [p for p in platforms if p.taisly_id in chosen]
    captions = {}
    if form["separate_captions"].value():
        for network, field in form.caption_fields():
            if (field.value() or "").strip():
                captions[network] = field.value().strip()
    return groups.caption_plan(picked, form["description"].value() or "", captions)


# --- Progress and the live status ------------------------------------------------------------


def progress_context(access: WorkspaceAccess, post: Post) -> dict:
    """What ``posting/_progress.html`` needs (the upload's own progress and decisions)."""
    percent = 0
    if post.progress_total:
        percent = min(100, round(post.progress_bytes * 100 / post.progress_total))
    return {
        "access": access,
        "workspace": access.workspace,
        "post": post,
        "percent": percent,
        "candidates": _candidates(post) if post.state == Post.State.NEEDS_CHECK else [],
    }


def _candidates(post: Post) -> list[dict]:
    candidates = []
    for candidate in post.send_candidates:
        when = candidate.get("date") or candidate.get("created_at")
        candidates.append({**candidate, "when": datetime.fromisoformat(when) if when else None})
    return candidates


PROGRESS_STATES = (
    Post.State.QUEUED,
    Post.State.SENDING,
    Post.State.SEND_FAILED,
    Post.State.NEEDS_CHECK,
    Post.State.EDITING,
    Post.State.REPLACING,
    Post.State.CANCELLING,
)


def live_context(access: WorkspaceAccess, post: Post) -> dict:
    """The post page's live part (``posting/post.html#live``): when the mirror was read, the
    summary, each platform's result, the upload's progress, the actions, the details and the
    audit trail, and when to ask again. The page renders it and its poll renders it alone; both
    read the mirror only. Four queries (five for a retry, six with no results yet): the results
    with their platforms, the retries, the audit trail, the mirror's state (the original of a
    retry; the targets)."""
    results = selectors.post_results(post)
    members = selectors.post_group_members(post)
    poll = live.poll_after(post, results)
    return {
        "access": access,
        "workspace": access.workspace,
        "post": post,
        "summary": display.summarise(post, results),
        "chips": [display.chip(r, cancelled=post.state == Post.State.CANCELLED) for r in results],
        "targets": selectors.post_targets(post) if not results else [],
        "can_cancel": access.can_write and can_cancel(post),
        "can_edit": access.can_write and edits.can_edit(post),
        # The other Taisly posts of a post with a caption per network, and the progress of
        # those the dashboard still has or that need a person.
        "members": members,
        "member_progress": [
            progress_context(access, m) for m in members if m.state in PROGRESS_STATES
        ],
        # Each caption's own Taisly post, by its networks (one query more for a group).
        "taisly_ids": selectors.group_taisly_ids(post, members) if members else [],
        # The upload's progress and decisions (one implementation: posting/_progress.html),
        # shown while the dashboard has the post and when it failed or needs a person.
        "progress": progress_context(access, post) if post.state in PROGRESS_STATES else None,
        # Failures shown here for the first time: the page posts back that they were seen.
        "mark_seen": seen.unseen_failures(results, access),
        # Edited after approval: the draft it went back to review as (one query, cancelled only).
        "review_draft": selectors.review_draft_of(post)
        if post.state == Post.State.CANCELLED
        else None,
        "retry": selectors.retry_box(post, results),
        "poll_after": poll,
        "noscript_refresh": live.NOSCRIPT_REFRESH if poll else None,
        "events": selectors.post_events(post, access.workspace, limit=AUDIT_LIMIT),
        "mirror": mirror_of(access.workspace),
        "sync_next": reverse(
            "posting:post", kwargs={"code": access.workspace.code, "post_code": post.code}
        ),
    }


@never_cache
@login_required
@require_GET
def post_progress(request: HtmxHttpRequest, code, post_code) -> HttpResponse:
    """The post page's live part, polled by the page with a back-off until it has settled."""
    post, access = get_post_for_user(request, code, post_code)
    if request.htmx:
        context = live_context(access, post)
        response = render(request, "posting/post.html#live", context)
        if context["poll_after"] is None:
            response.status_code = HTMX_STOP_POLLING  # settled: htmx swaps it and asks no more
        return response
    # Without htmx (the "Refresh" link, an old bookmark): the post page shows it.
    return redirect("posting:post", code=access.workspace.code, post_code=post.code)


# --- Decisions after a failed forward -------------------------------------------------------


@dataclass(frozen=True)
class _Decision:
    """One decision on the progress fragment: the service that makes it (called with ``post``,
    ``actor`` and ``request``, and returning the post as it is now), what the page says once
    it is made, and any field of the form the service takes."""

    service: Callable[..., Post]
    success: Promise
    fields: Callable[[HttpRequest], dict] = lambda request: {}


def _recheck(*, post: Post, actor, request) -> Post:
    reconcile.post_recheck(post_id=post.pk, actor=actor, request=request)
    post.refresh_from_db()
    return post


_QUEUED_AGAIN = gettext_lazy("The post is queued to be sent to Taisly again.")

_RETRY_SEND = _Decision(decisions.post_retry_send, _QUEUED_AGAIN)
_SEND_AGAIN = _Decision(decisions.post_send_again, _QUEUED_AGAIN)
_ADOPT = _Decision(
    decisions.post_adopt,
    gettext_lazy("The post is linked to the one found in Taisly's history."),
    fields=lambda request: {"taisly_id": (request.POST.get("taisly_id") or "").strip()[:64]},
)
_GIVE_UP = _Decision(decisions.post_give_up, gettext_lazy("The post will not be sent again."))
_RECHECK = _Decision(_recheck, gettext_lazy("Taisly's history was read again (one request)."))


def _decide(request: HtmxHttpRequest, code, post_code, decision: _Decision) -> HttpResponse:
    post, access = get_post_for_user_rw(request, code, post_code)
    error = None
    try:
        post = decision.service(
            post=post, actor=request.user, request=request, **decision.fields(request)
        )
    except PostActionError as exc:
        error = exc.message
        post.refresh_from_db()
    if request.htmx:
        context = {**live_context(access, post), "action_error": error}
        return render(request, "posting/post.html#live", context, status=422 if error else 200)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, str(decision.success))
    return redirect("posting:post", code=access.workspace.code, post_code=post.code)


@login_required
@require_POST
def post_retry_send(request: HtmxHttpRequest, code, post_code) -> HttpResponse:
    return _decide(request, code, post_code, _RETRY_SEND)


@login_required
@require_POST
def post_send_again(request: HtmxHttpRequest, code, post_code) -> HttpResponse:
    return _decide(request, code, post_code, _SEND_AGAIN)


@login_required
@require_POST
def post_adopt(request: HtmxHttpRequest, code, post_code) -> HttpResponse:
    return _decide(request, code, post_code, _ADOPT)


@login_required
@require_POST
def post_give_up(request: HtmxHttpRequest, code, post_code) -> HttpResponse:
    return _decide(request, code, post_code, _GIVE_UP)


@login_required
@require_POST
def post_recheck(request: HtmxHttpRequest, code, post_code) -> HttpResponse:
    return _decide(request, code, post_code, _RECHECK)


# --- The post page ----------------------------------------------------------------------------


AUDIT_LIMIT = 50


def post_url(post) -> str:
    return reverse("posting:post", kwargs={"code": post.workspace.code, "post_code": post.code})


@login_required
@require_GET
def post_detail(request: HttpRequest, code, post_code) -> HttpResponse:
    post, access = get_post_for_user(request, code, post_code)
    if post.group_id:
        # One Taisly post of a post with a caption per network: the post is its lead's page.
        lead = Post.objects.only("code").get(pk=post.group_id)
        return redirect("posting:post", code=access.workspace.code, post_code=lead.code)
    context = live_context(access, post)
    return render(request, "posting/post.html", context)


@login_required
@require_POST
def post_seen(request: HtmxHttpRequest, code, post_code) -> HttpResponse:
    """The post page was shown: its failures are seen (by a member; staff do not count)."""
    post, _access = get_post_for_user(request, code, post_code)
    # The result ids the page showed; anything else is no id of ours and is left out.
    shown = [
        int(value)
        for value in request.POST.getlist("result")[: seen.MAX_SHOWN]
        if value.isascii() and value.isdigit() and len(value) <= 18
    ]
    seen.failures_mark_seen(post=post, actor=request.user, shown=shown)
    if request.htmx:
        return HttpResponse(status=204)
    # The page's button without JavaScript.
    messages.success(request, _("Marked as read."))
    return redirect(post_url(post))


@login_required
@require_http_methods(["GET", "POST"])
def post_cancel_view(request: HttpRequest, code, post_code) -> HttpResponse:
    """A confirm page (works without JavaScript), then the cancel itself."""
    post, access = get_post_for_user_rw(request, code, post_code)
    context = {"access": access, "workspace": access.workspace, "post": post, "error": None}
    if request.method == "GET":
        if not can_cancel(post):
            context["error"] = _(
                "This post cannot be cancelled: only a post scheduled at Taisly that has not "
                "gone out yet can be."
            )
        return render(request, "posting/post_cancel.html", context)
    try:
        post_cancel(post=post, actor=request.user, request=request)
    except PostActionError as exc:
        context["error"] = exc.message
        return render(request, "posting/post_cancel.html", context, status=409)
    messages.success(request, _("The scheduled post was cancelled. Taisly will not post it."))
    return redirect_for(request, post_url(post))


@login_required
@require_POST
def post_retry_failed(request: HttpRequest, code, post_code) -> HttpResponse:
    post, access = get_post_for_user_rw(request, code, post_code)
    try:
        new = retry.post_retry_failed(post=post, actor=request.user, request=request)
    except PostActionError as exc:
        messages.error(request, exc.message)
        return redirect(
            reverse("posting:post", kwargs={"code": access.workspace.code, "post_code": post.code})
        )
    messages.success(request, _("A new post for the failed platforms is on its way to Taisly."))
    return redirect(
        reverse("posting:post", kwargs={"code": access.workspace.code, "post_code": new.code})
    )


# --- Drafts -----------------------------------------------------------------------------------

DRAFTS_PER_PAGE = 25


def draft_url(draft) -> str:
    return reverse("posting:draft", kwargs={"code": draft.workspace.code, "draft_code": draft.code})


def _draft_fields(
    form: PostFieldsForm, *, for_review: bool = False, workspace=None
) -> drafts.DraftFields:
    """The form's values for a draft. ``for_review``: the draft is submitted for review next,
    so "Add to queue" cannot pick its slot now (nothing reaches Taisly before approval): the
    next free slot becomes its planned time, and the approval sends it then
    (``drafts.planned_slot``; ``PostActionError`` when there is none)."""
    data = form.cleaned_data
    scheduled_at = data["scheduled_at"]
    if for_review and data.get("queue"):
        scheduled_at = drafts.planned_slot(workspace)
    return drafts.DraftFields(
        platforms=list(data["platforms"]),
        description=data["description"],
        captions=data["captions"],
        cover_second=data["cover_second"],
        scheduled_at=scheduled_at,
    )


def with_upload(
    request: HtmxHttpRequest, access: WorkspaceAccess, form_for, then, *, frees: int = 0
):
    """Refuse what cannot fit the workspace's kept-video storage, from Content-Length alone,
    and count the upload against its person: both before the body is read (the page can then
    keep nothing that was typed, and says so). Then ``then``. ``frees``: the bytes of video the
    upload would replace (a draft's)."""
    size = body_length(request)
    try:
        limits.storage_precheck(
            workspace=access.workspace, at_least=size - FORM_OVERHEAD_BYTES, frees=frees
        )
    except limits.StorageFull as exc:
        return _render_form(request, access, form_for(), status=413, error=exc.message)
    try:
        upload = limits.upload_take(user=request.user, workspace=access.workspace, size=size)
    except limits.UploadLimitReached as exc:
        return _render_form(request, access, form_for(), status=429, error=exc.message)
    try:
        return then()
    finally:
        limits.upload_release(upload)


@accepts_files(VIDEO_UPLOAD)
@csrf_exempt  # checked in _draft_create, once it is known who may post
@never_cache
@login_required
@require_POST
def draft_create(request: HtmxHttpRequest, code) -> HttpResponse:
    """The compose form's "Save as draft": the video is kept, nothing goes to Taisly."""
    access = get_workspace_for_user_rw(request, code)
    return with_upload(
        request,
        access,
        lambda: ComposeForm(workspace=access.workspace),
        lambda: _draft_create(request, access),
    )


@csrf_protect
def _draft_create(request: HtmxHttpRequest, access: WorkspaceAccess) -> HttpResponse:
    saved = draft_create_from_form(request, access)
    if not isinstance(saved, Draft):
        return saved
    messages.success(request, _("The draft is saved. Nothing was sent to Taisly."))
    return redirect_for(request, draft_url(saved))


def draft_create_from_form(
    request: HtmxHttpRequest, access: WorkspaceAccess, *, for_review: bool = False
) -> Draft | HttpResponse:
    """The compose form saved as a draft: the draft, or the form's page with what is wrong.
    (The caller has checked the CSRF token.) ``for_review``: see ``_draft_fields``."""
    form = ComposeForm(request.POST, request.FILES, workspace=access.workspace)
    facts, refused = _checked_upload(request, access, form)
    if refused is not None:
        return refused
    try:
        draft = drafts.draft_create(
            workspace=access.workspace,
            actor=request.user,
            video=form.cleaned_data["video"],
            facts=facts,
            fields=_draft_fields(form, for_review=for_review, workspace=access.workspace),
            token=form.cleaned_data["token"],
            request=request,
        )
    except PostActionError as exc:
        form.add_error(None, exc.message)
        return _render_form(request, access, form, status=422)
    _say_if_cover_moved(request, form.cleaned_data["cover_second"], draft)
    return draft


def _say_if_cover_moved(request: HttpRequest, asked: float, saved) -> None:
    """A cover time past the video's end was moved to its last frame (``probe.cover_within``):
    the person is told, on the page the form leads to."""
    if saved.video_duration and saved.cover_second != asked:
        messages.warning(
            request, probe.cover_moved_sentence(asked, saved.cover_second, saved.video_duration)
        )


@never_cache
@login_required
@require_GET
def draft_list(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_user(request, code)
    page = selectors.drafts_page(
        access.workspace, request.GET.get("page"), per_page=DRAFTS_PER_PAGE
    )
    context = {"access": access, "workspace": access.workspace, "page": page}
    return render(request, "posting/drafts.html", context)


def draft_form(draft, data=None, files=None) -> DraftForm:
    # Kept on the draft: the read-only page reads its accounts again without a query.
    prefetch_related_objects([draft], "target_platforms")
    chosen = list(draft.target_platforms.all())
    return DraftForm(
        data,
        files,
        workspace=draft.workspace,
        initial=initial_from(
            draft,
            chosen,
            draft.captions,
            when=PostFieldsForm.WHEN_LATER if draft.scheduled_at else PostFieldsForm.WHEN_NOW,
        ),
    )


def _render_draft(request, access, draft, form, *, status=200, error=None) -> HttpResponse:
    workflow = access.workspace.approval_workflow
    review = {
        # The page offers "Submit for review" instead of sending, while review is needed.
        "needs_review": workflow != "none" and draft.review_state != ReviewState.HELD,
        "in_review": draft.review_state != "",
        "may_decide": draft.may_decide(access.membership),
        "wrote_version": draft.wrote_this_version(access.membership),
        "versions": selectors.draft_versions(draft) if draft.review_state else [],
        # A scheduled post edited after approval came back as this draft: its page links it.
        "from_post": (
            Post.objects.filter(pk=draft.from_post_id).only("code").first()
            if draft.from_post_id
            else None
        ),
        # "Watch" / "Stop watching": for members (staff looking in are none); one query.
        "may_watch": access.membership is not None,
        "watching": access.membership is not None and watchers.is_watching(draft, request.user),
    }
    extra = {"draft": draft, "review": review}
    if not access.can_write:
        # Who may not edit it reads it: no form, what it is and where it goes (no query:
        # ``draft_form`` fetched its accounts).
        accounts = sorted(draft.target_platforms.all(), key=lambda p: (p.network, p.name))
        extra["preview"] = {"accounts": accounts, "captions": draft.network_captions()[1]}
    return _render_form(
        request,
        access,
        form,
        status=status,
        error=error,
        template="posting/draft.html",
        extra=extra,
    )


@accepts_files(VIDEO_UPLOAD)
@csrf_exempt  # checked in _draft_save, once it is known who may write
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def draft_detail(request: HtmxHttpRequest, code, draft_code) -> HttpResponse:
    """A draft's page: its form (read only for viewers); POST saves it."""
    if request.method != "POST":
        draft, access = get_draft_for_user(request, code, draft_code)
        if draft.sent_post_id:
            return redirect(
                "posting:post", code=access.workspace.code, post_code=draft.sent_post.code
            )
        return _render_draft(request, access, draft, draft_form(draft))
    draft, access = get_draft_for_user_rw(request, code, draft_code)
    return with_upload(
        request,
        access,
        lambda: draft_form(draft),
        lambda: _draft_save(request, access, draft, send=False),
        frees=draft.video_size if draft.video else 0,
    )


@accepts_files(VIDEO_UPLOAD)
@csrf_exempt  # checked in _draft_save, once it is known who may write
@never_cache
@login_required
@require_POST
def draft_send(request: HtmxHttpRequest, code, draft_code) -> HttpResponse:
    """The draft page's "Post" / "Schedule": save what the form says, then send it."""
    draft, access = get_draft_for_user_rw(request, code, draft_code)
    return with_upload(
        request,
        access,
        lambda: draft_form(draft),
        lambda: _draft_save(request, access, draft, send=True),
        frees=draft.video_size if draft.video else 0,
    )


@csrf_protect
def _draft_save(request, access, draft, *, send: bool) -> HttpResponse:
    if draft.sent_post_id:  # a second click of "Post": the post the first one made
        return redirect_for(request, post_url(draft.sent_post))
    held = draft.review_state == ReviewState.HELD
    saved = draft_update_from_form(request, access, draft)
    if not isinstance(saved, Draft):
        return saved
    if held and saved.review_state == ReviewState.IN_REVIEW:
        # The edit changed what was approved (``drafts._back_to_review``): it is saved and
        # reviewed again, not sent, whichever button was clicked.
        messages.success(request, _back_in_review_sentence(saved))
        return redirect_for(request, draft_url(saved))
    if send:
        try:
            post = drafts.draft_send(
                draft=saved,
                actor=request.user,
                # The form was valid (just saved), so "when" is one of its choices.
                queue=request.POST.get("when") == PostFieldsForm.WHEN_QUEUE,
                request=request,
            )
        except PostActionError as exc:
            form = draft_form(saved, request.POST)
            return _render_draft(request, access, saved, form, status=422, error=exc.message)
        messages.success(request, _("The draft is on its way to Taisly."))
        return redirect_for(request, post_url(post))
    messages.success(request, _("The draft is saved. Nothing was sent to Taisly."))
    return redirect_for(request, draft_url(saved))


def _back_in_review_sentence(draft: Draft) -> str:
    if draft.review_stage == ReviewStage.CLIENT:
        return _(
            "Your changes are saved. They change what was approved, so it was not sent: it is "
            "back in review, with the client. It is sent once they approve it."
        )
    return _(
        "Your changes are saved. They change what was approved, so it was not sent: it is "
        "back in review, with your team (someone other than who edited it). It is sent once "
        "approved."
    )


def draft_update_from_form(
    request, access, draft, *, for_review: bool = False
) -> Draft | HttpResponse:
    """The draft page's form saved: the draft, or the page with what is wrong. (The caller
    has checked the CSRF token.) ``for_review``: see ``_draft_fields``."""
    form = draft_form(draft, request.POST, request.FILES)
    facts, refused = _checked_upload(request, access, form, required=False)
    if refused is not None:
        return _render_draft(request, access, draft, form, status=refused.status_code)
    try:
        saved = drafts.draft_update(
            draft=draft,
            actor=request.user,
            fields=_draft_fields(form, for_review=for_review, workspace=access.workspace),
            video=form.cleaned_data.get("video") if facts else None,
            facts=facts,
            request=request,
        )
    except PostActionError as exc:
        return _render_draft(request, access, draft, form, status=422, error=exc.message)
    _say_if_cover_moved(request, form.cleaned_data["cover_second"], saved)
    return saved


@login_required
@require_http_methods(["GET", "HEAD"])
def draft_video(request: HttpRequest, code, draft_code) -> HttpResponse:
    """The draft's kept video, to the workspace's members: ranged, so the page's player seeks."""
    draft, _access = get_draft_for_user(request, code, draft_code)
    return ranged.draft_video_answer(request, draft)


@login_required
@require_POST
def draft_delete(request: HttpRequest, code, draft_code) -> HttpResponse:
    draft, access = get_draft_for_user_rw(request, code, draft_code)
    try:
        drafts.draft_delete(draft=draft, actor=request.user, request=request)
    except PostActionError as exc:
        messages.error(request, exc.message)
        return redirect_for(request, draft_url(draft))
    messages.success(request, _("The draft and its video were deleted."))
    return redirect_for(request, reverse("posting:drafts", kwargs={"code": access.workspace.code}))


# --- Edit a scheduled post --------------------------------------------------------------------


def _edit_form(rows, targets, data=None) -> EditForm:
    platforms, description, captions = edits.current_captions(rows, targets)
    lead = rows[0]
    return EditForm(
        data,
        workspace=lead.workspace,
        initial=initial_from(lead, platforms, captions, when=PostFieldsForm.WHEN_LATER)
        | {"description": description},
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def post_edit_view(request: HtmxHttpRequest, code, post_code) -> HttpResponse:
    """Edit a scheduled post (captions, accounts, time, cover): the form says what it costs;
    the uploads worker cancels and remakes it (``posting.sending.edits``)."""
    post, access = get_post_for_user_rw(request, code, post_code)
    if post.group_id:
        lead = Post.objects.get(pk=post.group_id)
        return redirect("posting:post_edit", code=access.workspace.code, post_code=lead.code)
    rows = [post, *selectors.post_group_members(post)]
    targets = {row.pk: list(row.target_platforms.all()) for row in rows}
    form = _edit_form(rows, targets, request.POST if request.method == "POST" else None)
    plan = _form_plan(form, selectors.compose_platforms(access.workspace))
    extra = {
        "post": post,
        "editable": edits.can_edit(post),
        "edit_cost": groups.edit_cost(len(rows), plan),
        "edit_rows": len(rows),
        # New content goes back to review there (posting.sending.rereview): said before the click.
        "edit_reviewed": access.workspace.approval_workflow != "none",
    }
    if request.method != "POST":
        return _render_form(request, access, form, template="posting/post_edit.html", extra=extra)
    if not form.is_valid():
        return _render_form(
            request, access, form, status=422, template="posting/post_edit.html", extra=extra
        )
    data = form.cleaned_data
    change = edits.PostChange(
        platforms=list(data["platforms"]),
        description=data["description"],
        captions=data["captions"],
        cover_second=data["cover_second"],
        scheduled_at=data["scheduled_at"],
    )
    try:
        lead = edits.post_edit(post=post, actor=request.user, change=change, request=request)
    except PostActionError as exc:
        return _render_form(
            request,
            access,
            form,
            status=409,
            error=exc.message,
            template="posting/post_edit.html",
            extra=extra,
        )
    if rereview.review_pending(lead.edit_pending):
        messages.success(
            request,
            _(
                "The edit is on its way: the post is taken off Taisly's schedule and sent back "
                "for review with your changes. This page shows when it is done."
            ),
        )
    else:
        messages.success(
            request,
            _(
                "The edit is on its way: the post is cancelled at Taisly and made again with "
                "your changes. This page shows when it is done."
            ),
        )
    return redirect_for(request, post_url(post))


#: How long a browser keeps a thumbnail: its URL carries its version (``?v=``, the stored file's
#: random name), so a new thumbnail is a new URL. ``private``: no shared cache may keep it.
THUMBNAIL_MAX_AGE = 365 * 24 * 3600
#: A URL without the current version (an old page): kept briefly.
THUMBNAIL_UNVERSIONED_MAX_AGE = 300


@login_required
@require_GET
def post_thumbnail(request: HttpRequest, code, post_code) -> HttpResponse:
    """The post's thumbnail, to the workspace's members (and staff) only: streamed from the
    storage by this view, never a media URL, so the page's CSP stays ``img-src 'self'`` and the
    same URL is cached by the browser whatever the storage. 404 while it has none."""
    post, _access = get_post_for_user(request, code, post_code)
    return _thumbnail_response(request, post)


@login_required
@require_GET
def draft_thumbnail(request: HttpRequest, code, draft_code) -> HttpResponse:
    """The draft's thumbnail, as ``post_thumbnail``: members only, 404 while it has none (being
    made, no video, or handed to its post once sent)."""
    draft, _access = get_draft_for_user(request, code, draft_code)
    return _thumbnail_response(request, draft)


def _thumbnail_response(request: HttpRequest, row) -> HttpResponse:
    """``row``'s (a Post's or a Draft's) stored thumbnail, cached by its version."""
    version = row.thumbnail_version
    if not version:
        raise Http404
    etag = f'"{version}"'
    if request.GET.get("v") == version:
        cache = {"max_age": THUMBNAIL_MAX_AGE, "immutable": True}
    else:
        cache = {"max_age": THUMBNAIL_UNVERSIONED_MAX_AGE}
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponseNotModified()
    else:
        try:
            image = thumbnails.thumbnail_read(row)
        except FileNotFoundError:
            raise Http404 from None
        except Exception:  # the storage failed: the page shows a broken image, not a 500
            logger.exception("The thumbnail %s could not be read", row.thumbnail.name)
            return HttpResponse(
                _("The thumbnail cannot be read right now."), status=503, content_type="text/plain"
            )
        response = HttpResponse(image, content_type=thumbnails.THUMBNAIL_CONTENT_TYPE)
    response["ETag"] = etag
    patch_cache_control(response, private=True, **cache)
    return response


# --- Posting slots and the queue --------------------------------------------------------------


def _slots_page(request, access, form=None, *, status=200, error=None) -> HttpResponse:
    workspace = access.workspace
    have = list(PostingSlot.objects.filter(workspace=workspace))
    days = [
        {"weekday": day, "name": WEEKDAYS[day], "slots": [s for s in have if s.weekday == day]}
        for day in range(7)
    ]
    context = {
        "access": access,
        "workspace": workspace,
        "form": form or SlotForm(initial={"weekdays": [0, 1, 2, 3, 4]}),
        "days": days,
        "count": len(have),
        "slots_max": SLOTS_MAX,
        "page_error": error,
    }
    return render(request, "posting/slots.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def slot_list(request: HttpRequest, code) -> HttpResponse:
    """The workspace's weekly posting slots; owners and editors add them (POST)."""
    if request.method != "POST":
        return _slots_page(request, get_workspace_for_user(request, code))
    access = get_workspace_for_user_rw(request, code)
    form = SlotForm(request.POST)
    if not form.is_valid():
        return _slots_page(request, access, form, status=422)
    try:
        made = slots.slots_add(
            workspace=access.workspace,
            actor=request.user,
            weekdays=form.cleaned_data["weekdays"],
            at=form.cleaned_data["time"],
            request=request,
        )
    except PostActionError as exc:
        return _slots_page(request, access, form, status=409, error=exc.message)
    if made:
        messages.success(
            request,
            ngettext("%(count)d slot added.", "%(count)d slots added.", len(made))
            % {"count": len(made)},
        )
    else:
        messages.info(request, _("Those slots were there already."))
    return redirect("posting:slots", code=access.workspace.code)


@login_required
@require_POST
def slot_remove(request: HttpRequest, code, slot_code) -> HttpResponse:
    access = get_workspace_for_user_rw(request, code)
    # A slot of another workspace (or none) is not found, as every object by its code; the
    # service still says "removed already" to the second of two clicks that race.
    get_object_or_404(PostingSlot, workspace=access.workspace, code=slot_code)
    try:
        slots.slot_remove(
            workspace=access.workspace, actor=request.user, code=slot_code, request=request
        )
    except PostActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Slot removed. Posts already scheduled at it stay."))
    return redirect("posting:slots", code=access.workspace.code)


#: How a queued post's state reads on the queue page ("Sent" would say it went out).
QUEUE_STATUS = {
    Post.State.QUEUED: gettext_lazy("Uploading to Taisly"),
    Post.State.SENDING: gettext_lazy("Uploading to Taisly"),
    Post.State.SENT: gettext_lazy("Scheduled at Taisly"),
    Post.State.EDITING: gettext_lazy("Being edited"),
    Post.State.REPLACING: gettext_lazy("Being edited"),
}


@never_cache
@login_required
@require_GET
def queue_list(request: HttpRequest, code) -> HttpResponse:
    """What the queue will post next, in order; writers move posts up or down and remove them."""
    access = get_workspace_for_user(request, code)
    workspace = access.workspace
    rows, more = queue.queue_rows(workspace)
    for row in rows:
        row["when"] = slot_label(row["post"].due_at, workspace)
        row["status"] = QUEUE_STATUS.get(row["post"].state, "")
        # Only a post scheduled at Taisly can be cancelled; one still uploading cannot yet.
        row["removable"] = can_cancel(row["post"])
    next_slot = slots.next_free_slot(workspace)
    context = {
        "history_url": reverse("posting:history", kwargs={"code": workspace.code}),
        "access": access,
        "workspace": workspace,
        "rows": rows,
        "more": more,
        "queue_page": queue.QUEUE_PAGE,
        "next_slot": slot_label(next_slot, workspace) if next_slot else "",
        "workspace_zone": workspace.time_zone,
    }
    return render(request, "posting/queue.html", context)


@login_required
@require_POST
def queue_move(request: HttpRequest, code, post_code) -> HttpResponse:
    """Move a queued post up or down: it swaps times with the post named in ``with``."""
    post, access = get_post_for_user_rw(request, code, post_code)
    other_code = uuid_or_none(request.POST.get("with"))
    other = (
        Post.objects.filter(workspace=access.workspace, code=other_code).first()
        if other_code
        else None
    )
    if other is None:
        messages.error(request, _("That post is no longer in the queue. Reload the page."))
        return redirect("posting:queue", code=access.workspace.code)
    try:
        queue.queue_swap(
            workspace=access.workspace, actor=request.user, post=post, other=other, request=request
        )
    except PostActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The two posts swapped times."))
    return redirect("posting:queue", code=access.workspace.code)
