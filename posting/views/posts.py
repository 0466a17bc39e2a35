"""One post's page (every detail, per-platform results, audit trail) and cancelling it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import get_post_for_user, get_post_for_user_rw
from accounts.models import AuditEvent
from posting import display
from posting.models import Post, PostResult
from posting.posts import PostActionError, can_cancel, post_cancel
from posting.views.compose import progress_context
from posting.views.history import _go, mirror_of

PROGRESS_STATES = (
    Post.State.QUEUED,
    Post.State.SENDING,
    Post.State.SEND_FAILED,
    Post.State.NEEDS_CHECK,
)

AUDIT_LIMIT = 50


def post_url(post) -> str:
    return reverse("posting:post", kwargs={"code": post.workspace.code, "post_code": post.code})


@login_required
@require_GET
def post_detail(request: HttpRequest, code, post_code) -> HttpResponse:
    post, access = get_post_for_user(request, code, post_code)
    results = list(
        post.results.select_related("platform", "repost_of").order_by("platform__network", "id")
    )
    unseen = [r.pk for r in results if r.status == PostResult.Status.FAILED and not r.seen_at]
    if unseen and access.membership is not None:
        # A member has now seen these failures: the overview stops listing them. Staff looking
        # in do not count, they are not the ones who must act.
        now = timezone.now()
        PostResult.objects.filter(pk__in=unseen, seen_at__isnull=True).update(seen_at=now)
    summary = display.summarise(post, results)
    targets = list(post.target_platforms.order_by("network", "id")) if not results else []
    events = list(
        AuditEvent.objects.filter(workspace=access.workspace, target=str(post.code)).order_by(
            "-created_at", "-id"
        )[:AUDIT_LIMIT]
    )
    context = {
        "access": access,
        "workspace": access.workspace,
        "post": post,
        "summary": summary,
        "chips": [display.chip(r) for r in results],
        "targets": targets,
        "events": events,
        "mirror": mirror_of(access.workspace),
        "can_cancel": access.can_write and can_cancel(post),
        "sync_next": request.get_full_path(),
        # The upload's progress and decisions (one implementation: posting/_progress.html),
        # shown while the dashboard has the post and when it failed or needs a person.
        "progress": progress_context(access, post) if post.state in PROGRESS_STATES else None,
    }
    return render(request, "posting/post.html", context)


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
    return _go(request, post_url(post))
