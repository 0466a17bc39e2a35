"""Retry failed platforms: a new Taisly post, for just the platforms that failed, from the video
kept on the server.

    post with FAILED results ──post_retry_failed──> new Post (retry_of = the original) QUEUED,
        target_platforms = the failed ones not already covered by a live retry
        └─ on commit: the uploads worker forwards it like any post (posting/sending/forward.py);
           its results are synced and alerted like any post's

Refused, with a sentence: while any platform is still PENDING (Taisly may still post it), once
the video is no longer kept (``POST_VIDEO_RETAIN_DAYS``), when nothing is left to retry. The new
post shares the original's stored file (no copy of up to 500 MB); cleanup deletes it once both
are past their retention, and a missing file is not an error there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.access import lock_writer
from accounts.audit import audit_record
from accounts.models import AuditEvent, User
from posting.models import Platform, Post, PostResult
from posting.sending import queueing, thumbnails
from posting.sending.errors import PostActionError
from posting.sending.groups import group_rows

#: A retry in these states still covers its platforms (a SEND_FAILED or CANCELLED one does not).
LIVE_RETRY_STATES = (
    Post.State.QUEUED,
    Post.State.SENDING,
    Post.State.SENT,
    Post.State.NEEDS_CHECK,
)


@dataclass(frozen=True)
class RetryPlan:
    platforms: list[Platform]
    #: Why it cannot be done now; "" when it can.
    refusal: str


def retry_plan(post: Post, results: list[PostResult] | None = None) -> RetryPlan:
    """Which platforms a retry would post to, or why there can be none. ``results``: the post's
    results with their platforms, when the caller has them already (the post page)."""
    if results is None:
        results = list(post.results.select_related("platform"))
    failed = [r.platform for r in results if r.status == PostResult.Status.FAILED]
    if not failed:
        return RetryPlan([], _("No platform of this post failed, so there is nothing to retry."))
    if any(r.status == PostResult.Status.PENDING for r in results):
        return RetryPlan(
            [],
            _(
                "Some platforms are still pending at Taisly. Retry once every platform has "
                "finished, so nothing is posted twice."
            ),
        )
    if not post.video or post.video_deleted_at or not post.video.storage.exists(post.video.name):
        return RetryPlan(
            [],
            _(
                "The video is no longer kept on the server (videos are kept %(days)d days), so "
                "the failed platforms cannot be retried from here. Make a new post with it."
            )
            % {"days": settings.POST_VIDEO_RETAIN_DAYS},
        )
    covered = set(
        Platform.objects.filter(
            targeted_by__retry_of=post, targeted_by__state__in=LIVE_RETRY_STATES
        ).values_list("pk", flat=True)
    )
    left = [p for p in failed if p.pk not in covered]
    if not left:
        return RetryPlan([], _("The failed platforms were retried already: see the retry below."))
    unusable = [p for p in left if not p.is_usable]
    if unusable:
        return RetryPlan(
            [],
            _("%(accounts)s is no longer connected in Taisly. Reconnect it there first.")
            % {"accounts": ", ".join(f"{p.network} {p.name}".strip() for p in unusable)},
        )
    return RetryPlan(left, "")


def post_retry_failed(*, post: Post, actor: User, request=None) -> Post:
    """Queue a new post of ``post``'s video for its failed platforms; returns the new post. A
    post with a caption per network retries each of its Taisly posts that has failed platforms
    (each with its own caption); the first retry is returned.

    Raises ``PermissionDenied`` unless ``actor`` may write (checked under lock), and
    ``PostActionError`` with the sentence of ``retry_plan`` when it cannot be done."""
    with transaction.atomic():
        lock_writer(workspace=post.workspace, actor=actor)
        made: list[Post] = []
        refusals: list[str] = []
        for row in group_rows(post):
            locked = Post.objects.select_for_update().get(pk=row.pk)
            locked.workspace = post.workspace
            plan = retry_plan(locked)
            if plan.refusal:
                refusals.append(plan.refusal)
                continue
            made.append(_retry_of(locked, plan, actor, request))
        if not made:
            raise PostActionError(refusals[0])
    return made[0]


def _retry_of(locked: Post, plan: RetryPlan, actor: User, request) -> Post:
    retry = Post.objects.create(
        workspace=locked.workspace,
        author=actor,
        description=locked.description,
        cover_second=locked.cover_second,
        state=Post.State.QUEUED,
        video=locked.video.name,
        video_name=locked.video_name,
        video_size=locked.video_size,
        video_duration=locked.video_duration,
        video_width=locked.video_width,
        video_height=locked.video_height,
        idempotency_token=uuid.uuid4(),
        retry_of=locked,
    )
    retry.target_platforms.set(plan.platforms)
    audit_record(
        workspace=locked.workspace,
        actor=actor,
        action=AuditEvent.Action.POST_RETRIED_FAILED,
        target=str(retry.code),
        details={
            "retry_of": str(locked.code),
            "platforms": [p.network for p in plan.platforms],
        },
        request=request,
    )
    transaction.on_commit(lambda: queueing.enqueue_forward(retry.pk))
    transaction.on_commit(lambda: thumbnails.thumbnail_enqueue(retry.pk))
    return retry
