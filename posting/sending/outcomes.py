"""Where a send ends: SENT with Taisly's results, SEND_FAILED, or NEEDS_CHECK.

Each is a conditional UPDATE from the states it may follow, so a send that was settled
meanwhile (by another run, a person, the history sync) is left as it is. A failure or a check
raises its alert at once; a NEEDS_CHECK post has history read again later (``RECHECK_TASK``).
The forward, the reconciling with history and a person's adoption all end here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from posting import taisly
from posting.alerts.rules import alerts_for_sync
from posting.mirror import background, sync
from posting.models import Post, PostResult, reasons
from posting.sending import queueing

logger = logging.getLogger(__name__)

State = Post.State


def mark_sent(
    post: Post,
    taisly_id: str,
    results: Iterable[taisly.PostResult],
    *,
    scheduled: bool,
    from_states: Sequence[str] = (State.SENDING,),
    due_at: datetime | None = None,
) -> bool:
    """SENT as Taisly's ``taisly_id``, with its results; False when ``post`` had left
    ``from_states`` meanwhile (nothing written)."""
    now = timezone.now()
    due = due_at or (post.scheduled_at if scheduled and post.scheduled_at else now)
    with transaction.atomic():
        try:
            with transaction.atomic():
                updated = _set_sent(post, taisly_id, due, now, from_states)
        except IntegrityError:
            # History sync found this post in Taisly's history first and mirrored it as a
            # post of its own; this row is the real one, so that copy goes.
            Post.objects.filter(
                workspace=post.workspace, taisly_id=taisly_id, origin=Post.Origin.HISTORY
            ).delete()
            updated = _set_sent(post, taisly_id, due, now, from_states)
        if not updated:
            return False
        post.refresh_from_db()
        store_results(post, results)
    logger.info("Post %s sent to Taisly as %s", post.code, taisly_id)
    # Its results are due soon: read history then, not at the next minute's dispatch.
    background.results_watch_start()
    return True


def store_results(post: Post, results: Iterable[taisly.PostResult]) -> None:
    """Mirror Taisly's per-platform results for ``post`` through the history sync's own code
    (``posting.mirror.sync.results_store``: one way results enter the mirror); every target platform
    Taisly did not name yet gets a PENDING result."""
    sync.results_store(post=post, results=results)
    have = set(PostResult.objects.filter(post=post).values_list("platform_id", flat=True))
    missing = [p for p in post.target_platforms.all() if p.pk not in have]
    PostResult.objects.bulk_create(
        [PostResult(post=post, platform=p) for p in missing], ignore_conflicts=True
    )


def fail(post: Post, reason: reasons.Sentence) -> None:
    """SEND_FAILED; ``reason`` builds the sentence (called once per shipped language)."""
    if post.replaced_taisly_id:
        # An edit cancelled the post at Taisly to make it again, and making it failed.
        said = reason
        in_group = post.group_id is not None or Post.objects.filter(group_id=post.pk).exists()
        networks = ", ".join(sorted(p.network for p in post.target_platforms.all()))

        def reason() -> str:
            if in_group:
                # A caption of a group: the other captions are made (or not) on their own.
                return _(
                    "The original was cancelled at Taisly for your edit, and the edited post "
                    "for %(networks)s could not be made, so nothing is scheduled for "
                    "%(networks)s now. %(reason)s Use “Try sending again” to send it."
                ) % {"reason": said(), "networks": networks}
            return _(
                "The original was cancelled at Taisly for your edit, and the edited post could "
                "not be made, so nothing is scheduled now. %(reason)s Use “Try sending again” "
                "to send the edited post."
            ) % {"reason": said()}

    stored = reasons.store(reason)
    Post.objects.filter(pk=post.pk, state__in=(State.SENDING, State.QUEUED)).update(
        state=State.SEND_FAILED, state_reason=stored, next_attempt_at=None
    )
    logger.info("Post %s: send failed: %s", post.code, reasons.shown(stored))
    raise_alerts(post)


def needs_check(post: Post, reason: reasons.Sentence) -> None:
    """NEEDS_CHECK: Taisly may have the post, so it is not sent again on its own; history is
    read again in ``POST_RECHECK_SECONDS``."""

    def sentence() -> str:
        return _(
            "Taisly may have posted this already (%(reason)s), so it is not sent again on its "
            "own. Check Taisly's history below, or send it again."
        ) % {"reason": reason().rstrip(".")}

    updated = Post.objects.filter(pk=post.pk, state=State.SENDING).update(
        state=State.NEEDS_CHECK, state_reason=reasons.store(sentence)
    )
    if updated:
        when = timezone.now() + timedelta(seconds=settings.POST_RECHECK_SECONDS)
        queueing.schedule_once(queueing.RECHECK_TASK, post, when, f"recheck {post.attempts}")
        raise_alerts(post)


def _set_sent(post, taisly_id, due, now, from_states) -> int:
    return Post.objects.filter(pk=post.pk, state__in=from_states).update(
        state=State.SENT,
        taisly_id=taisly_id,
        sent_at=now,
        due_at=due,
        state_reason="",
        next_attempt_at=None,
        progress_bytes=F("progress_total"),
        send_candidates=[],
        must_reconcile=False,
        replaced_taisly_id="",
    )


def raise_alerts(post: Post) -> None:
    # SEND_FAILED and NEEDS_CHECK raise an alert now (the minute's alert scan would otherwise).
    try:
        alerts_for_sync(post.workspace)
    except Exception:
        logger.exception("Alerts for post %s failed", post.code)
