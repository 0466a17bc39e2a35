"""Receive, queue and forward a video post; what happens when the forward fails.

    compose form ──post_create──> Post QUEUED (video in storage, one per idempotency token)
        └─ on commit: forward_post(post_id) on the `uploads` cluster
    post_forward: claim QUEUED→SENDING (conditional UPDATE; a redelivery finds nothing to claim)
        ├─ Taisly answers ──────────────> SENT, taisly_id, a PostResult per platform
        ├─ 429 / 5xx / unreachable ─────> QUEUED again at next_attempt_at (backoff) ... SEND_FAILED
        ├─ refused (401, 403, 400) ─────> SEND_FAILED with the reason
        └─ ambiguous (it may have posted) ─> read history around the send time:
               one matching post ─> adopted: SENT
               none, and Taisly answered an error ─> retried as above
               otherwise ─> NEEDS_CHECK with the candidates; history read again later, and a
                            person adopts one, sends again, or gives up

Nothing here sends a post twice on its own: every path that could (a retry after an ambiguous
failure) goes through history first or through a person. The video stays in storage for
``POST_VIDEO_RETAIN_DAYS`` after sending; ``videos_cleanup`` (daily) deletes it.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_q.models import Schedule
from django_q.tasks import async_task

from accounts.access import lock_writer
from accounts.audit import audit_record
from accounts.models import AuditEvent, TaislyConnection, User, Workspace
from posting import taisly
from posting.alerts.rules import alerts_for_sync
from posting.mirror import sync
from posting.models import Platform, Post, PostResult, reasons
from posting.sending.errors import PostActionError
from posting.sending.probe import VideoFacts
from posting.taisly.gateway import TaislyActionError, taisly_for

logger = logging.getLogger(__name__)

State = Post.State
UPLOADS_CLUSTER = "uploads"
FORWARD_TASK = "posting.tasks.forward_post"
RECHECK_TASK = "posting.tasks.recheck_post"
# History is read this far either side of the send when looking for a post that may exist.
MATCH_WINDOW = timedelta(minutes=10)
MAX_BACKOFF = timedelta(minutes=30)
# Progress is written to the row at most this often (seconds).
PROGRESS_EVERY = 1.0


# --- Receiving --------------------------------------------------------------------------------


def post_create(
    *,
    workspace: Workspace,
    actor: User,
    video: UploadedFile,
    facts: VideoFacts,
    platforms: Sequence[Platform],
    description: str,
    cover_second: float,
    scheduled_at: datetime | None,
    token: uuid.UUID,
    request: HttpRequest | None = None,
) -> Post:
    """Store the video and queue the post; its forward to Taisly starts once this commits.

    The same ``token`` (one per rendering of the form) always gives the same post: a double
    click, a resubmitted form or a retried request returns the post the first one made.
    Raises ``RoleRequired`` (a ``PermissionDenied``) unless ``actor`` may write in
    ``workspace`` (checked under lock), ``PostActionError`` when a platform cannot be posted to
    or the workspace has no key.
    """
    existing = _post_for_token(workspace, actor, token)
    if existing is not None:
        return existing
    if not platforms:
        raise PostActionError(_("Choose at least one account to post to."))
    if cover_second > facts.duration:
        cover_second = 0.0

    post = Post(
        workspace=workspace,
        author=actor,
        description=description,
        cover_second=cover_second,
        scheduled_at=scheduled_at,
        due_at=scheduled_at,
        state=State.QUEUED,
        video_name=os.path.basename(video.name or "video")[:255],
        video_size=facts.size,
        video_duration=facts.duration,
        video_width=facts.width,
        video_height=facts.height,
        idempotency_token=token,
    )
    # Saved before the transaction: with the temp dir on the media filesystem this is a rename,
    # and no lock is held while it happens. Removed again below if the row is not made.
    post.video.save(_storage_name(video.name), video, save=False)
    try:
        with transaction.atomic():
            lock_writer(workspace=workspace, actor=actor)
            if not TaislyConnection.objects.filter(
                workspace=workspace, status=TaislyConnection.Status.ACTIVE
            ).exists():
                raise PostActionError(
                    _("This workspace has no working Taisly key, so nothing can be posted yet.")
                )
            ids = [p.pk for p in platforms]
            usable = list(
                Platform.objects.filter(
                    workspace=workspace, pk__in=ids, connected=True, gone_at__isnull=True
                )
            )
            if len(usable) != len(set(ids)):
                raise PostActionError(
                    _(
                        "One of the chosen accounts is no longer connected in Taisly. Reload the "
                        "page and choose again."
                    )
                )
            post.save()
            post.target_platforms.set(usable)
            audit_record(
                workspace=workspace,
                actor=actor,
                action=AuditEvent.Action.POST_CREATED,
                target=str(post.code),
                details={
                    "platforms": [p.network for p in usable],
                    "scheduled_at": scheduled_at.isoformat() if scheduled_at else None,
                    "video": post.video_name,
                    "size": post.video_size,
                },
                request=request,
            )
            transaction.on_commit(lambda: enqueue_forward(post.pk))
    except IntegrityError:
        # The other click of a double click made the post first (unique token).
        post.video.delete(save=False)
        existing = _post_for_token(workspace, actor, token)
        if existing is None:
            raise
        return existing
    except BaseException:
        post.video.delete(save=False)
        raise
    logger.info("Post %s queued (%d bytes)", post.code, post.video_size)
    return post


def enqueue_forward(post_id: int) -> None:
    """Queue the forward task on the uploads cluster (the post id only: never a key)."""
    async_task(FORWARD_TASK, post_id, cluster=UPLOADS_CLUSTER, task_name=f"forward post {post_id}")


def _post_for_token(workspace: Workspace, actor: User, token: uuid.UUID) -> Post | None:
    post = Post.objects.filter(idempotency_token=token).first()
    if post is None:
        return None
    if post.workspace_id != workspace.pk or post.author_id != actor.pk:
        # A token is one form shown to one person; anything else is a forged request.
        raise PostActionError(_("This form was already used. Reload the page and try again."))
    return post


def _storage_name(name: str | None) -> str:
    # The original name is kept in video_name; storage gets a name that cannot collide or
    # carry anything odd, with the extension Taisly uses to tell the container.
    extension = Path(name or "").suffix.lower()[:8] or ".mp4"
    return f"{uuid.uuid4().hex}{extension}"


def _lock_post(post: Post) -> Post:
    return Post.objects.select_for_update().get(pk=post.pk)


# --- Forwarding -------------------------------------------------------------------------------


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
        outcome = _reconcile(post, targets)
        if outcome == "adopted":
            return "adopted"
        if outcome == "several":
            _needs_check(post, reasons.later(post.state_reason))
            return "needs_check"
        if outcome == "error":
            return _retry_later(post, reasons.later(post.state_reason))
        Post.objects.filter(pk=post.pk).update(must_reconcile=False)
    scheduled = post.scheduled_at if post.scheduled_at and post.scheduled_at > now else None
    try:
        with taisly_for(post.workspace) as client, post.video.open("rb") as video:
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
    except (OSError, ValueError):
        logger.exception("The video of post %s could not be read", post.code)
        _fail(post, lambda: _("The video file could not be read on the server. Upload it again."))
        return "send_failed"
    _mark_sent(post, created.id, created.results, scheduled=created.scheduled or bool(scheduled))
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
        _fail(post, exc.sentence)
        return "send_failed"
    if exc.ambiguous:
        answered = cause.status is not None and cause.status != 504
        outcome = _reconcile(post, targets)
        if outcome == "adopted":
            return "adopted"
        if answered and outcome == "none":
            # Taisly answered with an error and its history has no such post: it was not made.
            return _retry_later(post, exc.sentence)
        if answered and outcome == "error":
            # History could not be read either: the next try reads it before sending.
            Post.objects.filter(pk=post.pk).update(must_reconcile=True)
            return _retry_later(post, exc.sentence)
        _needs_check(post, exc.sentence)
        return "needs_check"
    if isinstance(cause, taisly.TaislyRejected) and (cause.detail or cause.code):
        # Taisly's own words say what to change ("SCHEDULED_INVALID: ..."): keep them.
        said = ": ".join(part for part in (cause.code, cause.detail) if part)
        _fail(post, lambda: f"{exc.sentence()} ({said})")
        return "send_failed"
    if cause.transient:
        not_before = None
        if isinstance(cause, taisly.TaislyRateLimited):
            not_before = now + timedelta(seconds=cause.retry_after)
        return _retry_later(post, exc.sentence, not_before=not_before)
    _fail(post, exc.sentence)
    return "send_failed"


def _retry_later(
    post: Post, reason: reasons.Sentence, *, not_before: datetime | None = None
) -> str:
    post.refresh_from_db(fields=["attempts"])
    if post.attempts >= settings.POST_SEND_MAX_ATTEMPTS:
        _fail(
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
        _schedule(FORWARD_TASK, post, when, f"try {post.attempts + 1}")
    logger.info("Post %s: try %d failed, next at %s", post.code, post.attempts, when)
    return "retry"


def _schedule(func: str, post: Post, when: datetime, what: str) -> None:
    # A ONCE schedule on the uploads cluster: its scheduler queues the task at `when`, then
    # deletes the schedule. Named per post, try and time, so one try never has two schedules
    # and a later series of tries (after a person's retry) never meets an old name.
    Schedule.objects.get_or_create(
        name=f"post {post.code} {what} {when:%Y%m%d%H%M%S}"[:100],
        defaults={
            "func": func,
            "args": repr((post.pk,)),
            "schedule_type": Schedule.ONCE,
            "next_run": when,
            "repeats": -1,
            "cluster": UPLOADS_CLUSTER,
        },
    )


def _fail(post: Post, reason: reasons.Sentence) -> None:
    """SEND_FAILED; ``reason`` builds the sentence (called once per shipped language)."""
    stored = reasons.store(reason)
    Post.objects.filter(pk=post.pk, state__in=(State.SENDING, State.QUEUED)).update(
        state=State.SEND_FAILED, state_reason=stored, next_attempt_at=None
    )
    logger.info("Post %s: send failed: %s", post.code, reasons.shown(stored))
    _raise_alerts(post)


def _needs_check(post: Post, reason: reasons.Sentence) -> None:
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
        _schedule(RECHECK_TASK, post, when, f"recheck {post.attempts}")
        _raise_alerts(post)


def _raise_alerts(post: Post) -> None:
    # SEND_FAILED and NEEDS_CHECK raise an alert now (the minute's alert scan would otherwise).
    try:
        alerts_for_sync(post.workspace)
    except Exception:
        logger.exception("Alerts for post %s failed", post.code)


def _mark_sent(
    post: Post,
    taisly_id: str,
    results: Iterable[taisly.PostResult],
    *,
    scheduled: bool,
    from_states: Sequence[str] = (State.SENDING,),
    due_at: datetime | None = None,
) -> bool:
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
    return True


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
    )


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


# --- Reconciling an ambiguous send ----------------------------------------------------------


def _reconcile(post: Post, targets: list[Platform], actor: User | None = None) -> str:
    """Look for the post in Taisly's history: "adopted" (exactly one match, now SENT), "none",
    "several" (kept as candidates for a person) or "error" (history could not be read)."""
    try:
        candidates = _candidates(post, targets)
    except TaislyActionError as exc:
        logger.info("Post %s: history could not be read: %s", post.code, exc.message)
        return "error"
    if len(candidates) == 1:
        only = candidates[0]
        adopted = _mark_sent(
            post,
            only.id,
            only.results,
            scheduled=only.scheduled,
            from_states=(State.SENDING, State.NEEDS_CHECK),
            due_at=only.date,
        )
        if adopted:
            audit_record(
                workspace=post.workspace,
                actor=actor,
                action=AuditEvent.Action.POST_ADOPTED,
                target=str(post.code),
                details={"taisly_id": only.id, "automatic": True},
            )
            return "adopted"
    Post.objects.filter(pk=post.pk).update(send_candidates=[_candidate_json(c) for c in candidates])
    return "none" if not candidates else "several"


def _candidates(post: Post, targets: list[Platform]) -> list[taisly.HistoryPost]:
    """Posts in Taisly's history that could be this one: same platforms and description, made
    around the time it was sent, and not already another post of this workspace."""
    started = post.sending_started_at or post.created_at
    now = timezone.now()
    windows = [(started - MATCH_WINDOW, now + MATCH_WINDOW)]
    if post.scheduled_at:
        windows.append((post.scheduled_at - MATCH_WINDOW, post.scheduled_at + MATCH_WINDOW))
    wanted = {p.taisly_id for p in targets}
    found: dict[str, taisly.HistoryPost] = {}
    with taisly_for(post.workspace) as client:
        for start, end in windows:
            for item in client.history_between(start, end):
                found.setdefault(item.id, item)
    known = set(
        Post.objects.filter(workspace=post.workspace, taisly_id__in=list(found))
        .exclude(pk=post.pk)
        .exclude(origin=Post.Origin.HISTORY)
        .values_list("taisly_id", flat=True)
    )
    matches = []
    for item in found.values():
        direct = {r.platform_id for r in item.results if not r.repost_of}
        made = item.created_at or item.date
        if (
            item.id not in known
            and direct == wanted
            and (item.description or "").strip() == post.description.strip()
            and (made is None or started - MATCH_WINDOW <= made <= now + MATCH_WINDOW)
        ):
            matches.append(item)
    return matches


def _candidate_json(item: taisly.HistoryPost) -> dict:
    return {
        "id": item.id,
        "description": item.description,
        "date": item.date.isoformat() if item.date else None,
        "created_at": item.created_at.isoformat() if item.created_at else None,
        "scheduled": item.scheduled,
        "results": [
            {
                "platform_id": r.platform_id,
                "network": r.network,
                "status": r.status,
                "message": r.message,
                "repost_of": r.repost_of,
            }
            for r in item.results
        ],
    }


def _candidate_from_json(data: dict) -> tuple[str, list[taisly.PostResult], datetime | None]:
    results = [
        taisly.PostResult(
            platform_id=r.get("platform_id"),
            network=r.get("network"),
            status=r.get("status") or "PENDING",
            message=r.get("message"),
            repost_of=r.get("repost_of"),
        )
        for r in data.get("results", [])
    ]
    date = datetime.fromisoformat(data["date"]) if data.get("date") else None
    return data["id"], results, date


def post_recheck(*, post_id: int, actor: User | None = None, request=None) -> str:
    """Read history again for a NEEDS_CHECK post; adopts it when exactly one post matches."""
    post = Post.objects.select_related("workspace").filter(pk=post_id).first()
    if post is None or post.state != State.NEEDS_CHECK:
        return "not needed"
    if actor is not None:
        with transaction.atomic():
            lock_writer(workspace=post.workspace, actor=actor)
    return _reconcile(post, list(post.target_platforms.all()), actor=actor)


# --- What a person decides ------------------------------------------------------------------


def post_adopt(
    *, post: Post, actor: User, taisly_id: str, request: HttpRequest | None = None
) -> Post:
    """NEEDS_CHECK: this candidate from Taisly's history is the post; mark it SENT."""
    with transaction.atomic():
        lock_writer(workspace=post.workspace, actor=actor)
        locked = _lock_post(post)
        if locked.state != State.NEEDS_CHECK:
            raise PostActionError(_("This post no longer needs a check."))
        chosen = next((c for c in locked.send_candidates if c.get("id") == taisly_id), None)
        if chosen is None:
            raise PostActionError(_("That post is not one of the candidates. Reload the page."))
        ident, results, date = _candidate_from_json(chosen)
        if not _mark_sent(
            locked,
            ident,
            results,
            scheduled=bool(chosen.get("scheduled")),
            from_states=(State.NEEDS_CHECK,),
            due_at=date,
        ):
            raise PostActionError(_("This post no longer needs a check."))
        audit_record(
            workspace=post.workspace,
            actor=actor,
            action=AuditEvent.Action.POST_ADOPTED,
            target=str(post.code),
            details={"taisly_id": ident},
            request=request,
        )
    post.refresh_from_db()
    return post


def post_send_again(*, post: Post, actor: User, request: HttpRequest | None = None) -> Post:
    """NEEDS_CHECK: a person says it was not posted; queue it again."""
    return _requeue(
        post, actor, State.NEEDS_CHECK, AuditEvent.Action.POST_SENT_AGAIN, request=request
    )


def post_retry_send(*, post: Post, actor: User, request: HttpRequest | None = None) -> Post:
    """SEND_FAILED: try the forward to Taisly again, from the stored video."""
    return _requeue(
        post, actor, State.SEND_FAILED, AuditEvent.Action.POST_SEND_RETRIED, request=request
    )


def _requeue(post: Post, actor: User, from_state: str, action: str, *, request) -> Post:
    with transaction.atomic():
        lock_writer(workspace=post.workspace, actor=actor)
        locked = _lock_post(post)
        if locked.state != from_state:
            raise PostActionError(
                _("This post is %(state)s now, so this cannot be done.")
                % {"state": locked.get_state_display().lower()}
            )
        if not locked.video or locked.video_deleted_at:
            raise PostActionError(
                _("The video is no longer kept on the server. Make a new post with it.")
            )
        Post.objects.filter(pk=locked.pk).update(
            state=State.QUEUED,
            attempts=0,
            next_attempt_at=None,
            state_reason="",
            send_candidates=[],
            progress_bytes=0,
            progress_total=0,
            # A person who says "send again" after a check has looked at history themselves.
            **({"must_reconcile": False} if from_state == State.NEEDS_CHECK else {}),
        )
        audit_record(
            workspace=post.workspace,
            actor=actor,
            action=action,
            target=str(post.code),
            request=request,
        )
        transaction.on_commit(lambda: enqueue_forward(locked.pk))
    post.refresh_from_db()
    return post


def post_give_up(*, post: Post, actor: User, request: HttpRequest | None = None) -> Post:
    """NEEDS_CHECK: a person decides not to send it; it stays SEND_FAILED (retry remains)."""
    with transaction.atomic():
        lock_writer(workspace=post.workspace, actor=actor)
        locked = _lock_post(post)
        if locked.state != State.NEEDS_CHECK:
            raise PostActionError(_("This post no longer needs a check."))
        Post.objects.filter(pk=locked.pk).update(
            state=State.SEND_FAILED,
            state_reason=reasons.store(
                lambda: (
                    _("%(name)s decided not to send it again.") % {"name": actor.get_short_name()}
                )
            ),
            send_candidates=[],
        )
        audit_record(
            workspace=post.workspace,
            actor=actor,
            action=AuditEvent.Action.POST_GIVEN_UP,
            target=str(post.code),
            request=request,
        )
    post.refresh_from_db()
    return post


# --- Stalled sends ----------------------------------------------------------------------------


def stalled_after() -> timedelta:
    """How long a SENDING post may go without progress before its worker is taken for dead: the
    uploads cluster's task timeout, and five minutes more."""
    uploads = settings.Q_CLUSTER.get("ALT_CLUSTERS", {}).get(UPLOADS_CLUSTER, {})
    return timedelta(seconds=uploads.get("timeout", settings.Q_CLUSTER.get("timeout", 1800)) + 300)


def stalled_sends_check(*, now: datetime | None = None) -> int:
    """SENDING posts whose worker stopped mid-send (killed, restarted): the video may have reached
    Taisly, so each goes to NEEDS_CHECK, where history is read again later. Never re-sent here."""
    now = now or timezone.now()
    cutoff = now - stalled_after()
    stalled = Post.objects.filter(state=State.SENDING).filter(
        Q(progress_at__lt=cutoff) | Q(progress_at__isnull=True, sending_started_at__lt=cutoff)
    )
    count = 0
    for post in stalled.select_related("workspace"):
        _needs_check(post, lambda: _("The upload worker stopped while sending it"))
        count += 1
    return count


# --- Retention --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CleanupOutcome:
    videos_deleted: int
    temp_files_deleted: int


def videos_cleanup(*, now: datetime | None = None) -> CleanupOutcome:
    """Delete videos kept longer than ``POST_VIDEO_RETAIN_DAYS`` after sending (or after the
    post was cancelled or given up), and upload temp files abandoned for more than a day."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.POST_VIDEO_RETAIN_DAYS)
    done = (
        Post.objects.filter(video_deleted_at__isnull=True)
        .exclude(video="")
        .filter(
            Q(state=State.SENT, sent_at__lt=cutoff)
            | Q(state__in=(State.CANCELLED, State.SEND_FAILED), updated_at__lt=cutoff)
        )
    )
    deleted = 0
    for post in done.only("pk", "video").iterator():
        post.video.delete(save=False)  # a missing file is not an error for the storage API
        Post.objects.filter(pk=post.pk).update(video="", video_deleted_at=now)
        deleted += 1
    temp_deleted = _temp_files_cleanup(now)
    logger.info("Cleanup: %d videos, %d abandoned uploads deleted", deleted, temp_deleted)
    return CleanupOutcome(videos_deleted=deleted, temp_files_deleted=temp_deleted)


def _temp_files_cleanup(now: datetime) -> int:
    directory = settings.FILE_UPLOAD_TEMP_DIR
    if not directory or not os.path.isdir(directory):
        return 0
    cutoff = now.timestamp() - 24 * 3600
    deleted = 0
    with os.scandir(directory) as entries:
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    deleted += 1
            except FileNotFoundError:
                continue
    return deleted
