"""Forward a QUEUED post's video to Taisly, and what follows when that fails.

    post_forward: claim QUEUED→SENDING (conditional UPDATE; a redelivery finds nothing to claim)
        ├─ Taisly answers ──────────────> SENT, taisly_id, a PostResult per platform
        ├─ 429 / 5xx / unreachable ─────> QUEUED again at next_attempt_at (backoff) ... SEND_FAILED
        ├─ refused (401, 403, 400) ─────> SEND_FAILED with the reason
        └─ ambiguous (it may have posted) ─> Taisly's history read around the send time
               (``posting.sending.reconcile``):
               one matching post ─> adopted: SENT
               none, and Taisly answered an error ─> retried as above
               otherwise ─> NEEDS_CHECK with the candidates; history read again later, and a
                            person adopts one, sends again, or gives up

Nothing here sends a post twice on its own: every path that could (a retry after an ambiguous
failure) goes through history first or through a person. While sending, the bytes sent are
written to the row (at most once a second) for the progress bar.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import TaislyConnection
from posting import taisly
from posting.models import Platform, Post, reasons
from posting.sending import outcomes, queueing, reconcile, stored_video
from posting.taisly.gateway import TaislyActionError, taisly_for

logger = logging.getLogger(__name__)

State = Post.State
MAX_BACKOFF = timedelta(minutes=30)
# Progress is written to the row at most this often (seconds).
PROGRESS_EVERY = 1.0


def post_forward(*, post_id: int) -> str:
    """Send a QUEUED post's video to Taisly. Returns what happened, for the task's result."""
    now = timezone.now()
    claimed = (
        Post.objects.filter(pk=post_id, state=State.QUEUED)
        .filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + timedelta(seconds=2))
        )
        .update(
            state=State.SENDING,
            sending_started_at=now,
            attempts=F("attempts") + 1,
            progress_bytes=0,
            progress_total=0,
            progress_at=now,
            next_attempt_at=None,
        )
    )
    if claimed != 1:
        # Already claimed by another run (a redelivery), done, or not due yet.
        return "not claimed"
    post = Post.objects.select_related("workspace").get(pk=post_id)
    targets = list(post.target_platforms.all())
    if post.must_reconcile:
        # An earlier try may have reached Taisly and history could not say: it must first.
        outcome = reconcile.against_history(post, targets)
        if outcome == "adopted":
            return "adopted"
        if outcome == "several":
            outcomes.needs_check(post, reasons.later(post.state_reason))
            return "needs_check"
        if outcome == "error":
            return _retry_later(post, reasons.later(post.state_reason))
        Post.objects.filter(pk=post.pk).update(must_reconcile=False)
    scheduled = post.scheduled_at if post.scheduled_at and post.scheduled_at > now else None
    try:
        # Streamed from local disk or the bucket alike, one block held at a time.
        with taisly_for(post.workspace) as client, stored_video.open_video(post.video) as video:
            created = client.create_post(
                video,
                platforms=[p.taisly_id for p in targets],
                description=post.description,
                preview_time=post.cover_second,
                scheduled=scheduled,
                on_progress=_Progress(post.pk),
            )
    except TaislyActionError as exc:
        return _after_failure(post, targets, exc)
    except stored_video.StoredVideoUnreadable:
        # The bucket failed, before the request or halfway through its body: a request cut
        # short cannot have made a post, so this is a plain retry, not a reconcile.
        logger.warning("The video of post %s could not be read from storage", post.code)
        return _retry_later(
            post,
            lambda: _("The video could not be read from storage just now. It will be tried again."),
        )
    except (OSError, ValueError):
        logger.exception("The video of post %s could not be read", post.code)
        outcomes.fail(
            post, lambda: _("The video file could not be read on the server. Upload it again.")
        )
        return "send_failed"
    outcomes.mark_sent(
        post, created.id, created.results, scheduled=created.scheduled or bool(scheduled)
    )
    return "sent"


class _Progress:
    """``on_progress`` for the client: writes bytes sent to the row, at most once a second."""

    def __init__(self, post_id: int) -> None:
        self.post_id = post_id
        self.last = 0.0

    def __call__(self, sent: int, total: int) -> None:
        now = time.monotonic()
        if sent < total and now - self.last < PROGRESS_EVERY:
            return
        self.last = now
        Post.objects.filter(pk=self.post_id, state=State.SENDING).update(
            progress_bytes=sent, progress_total=total, progress_at=timezone.now()
        )


def _after_failure(post: Post, targets: list[Platform], exc: TaislyActionError) -> str:
    cause = exc.cause
    now = timezone.now()
    if cause is None:
        # Refused before any request: a blocked key waits, a missing or invalid key cannot.
        blocked_until = (
            TaislyConnection.objects.filter(workspace=post.workspace)
            .values_list("blocked_until", flat=True)
            .first()
        )
        if blocked_until and blocked_until > now:
            return _retry_later(post, exc.sentence, not_before=blocked_until)
        outcomes.fail(post, exc.sentence)
        return "send_failed"
    if exc.ambiguous:
        answered = cause.status is not None and cause.status != 504
        outcome = reconcile.against_history(post, targets)
        if outcome == "adopted":
            return "adopted"
        if answered and outcome == "none":
            # Taisly answered with an error and its history has no such post: it was not made.
            return _retry_later(post, exc.sentence)
        if answered and outcome == "error":
            # History could not be read either: the next try reads it before sending.
            Post.objects.filter(pk=post.pk).update(must_reconcile=True)
            return _retry_later(post, exc.sentence)
        outcomes.needs_check(post, exc.sentence)
        return "needs_check"
    if isinstance(cause, taisly.TaislyRejected) and (cause.detail or cause.code):
        # Taisly's own words say what to change ("SCHEDULED_INVALID: ..."): keep them.
        said = ": ".join(part for part in (cause.code, cause.detail) if part)
        outcomes.fail(post, lambda: f"{exc.sentence()} ({said})")
        return "send_failed"
    if cause.transient:
        not_before = None
        if isinstance(cause, taisly.TaislyRateLimited):
            not_before = now + timedelta(seconds=cause.retry_after)
        return _retry_later(post, exc.sentence, not_before=not_before)
    outcomes.fail(post, exc.sentence)
    return "send_failed"


def _retry_later(
    post: Post, reason: reasons.Sentence, *, not_before: datetime | None = None
) -> str:
    """QUEUED again after a backoff (doubling from ``POST_SEND_RETRY_SECONDS``, at most
    ``MAX_BACKOFF``, never before ``not_before``); SEND_FAILED once the tries are spent."""
    post.refresh_from_db(fields=["attempts"])
    if post.attempts >= settings.POST_SEND_MAX_ATTEMPTS:
        outcomes.fail(
            post,
            lambda: (
                ngettext(
                    "Taisly could not take the video after %(count)d try. %(reason)s",
                    "Taisly could not take the video after %(count)d tries. %(reason)s",
                    post.attempts,
                )
                % {"count": post.attempts, "reason": reason()}
            ),
        )
        return "send_failed"
    delay = timedelta(seconds=settings.POST_SEND_RETRY_SECONDS * 2 ** (post.attempts - 1))
    when = timezone.now() + min(delay, MAX_BACKOFF)
    if not_before is not None and not_before > when:
        when = not_before
    updated = Post.objects.filter(pk=post.pk, state=State.SENDING).update(
        state=State.QUEUED, next_attempt_at=when, state_reason=reasons.store(reason)
    )
    if updated:
        queueing.schedule_once(queueing.FORWARD_TASK, post, when, f"try {post.attempts + 1}")
    logger.info("Post %s: try %d failed, next at %s", post.code, post.attempts, when)
    return "retry"
