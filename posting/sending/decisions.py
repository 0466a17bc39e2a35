"""What a person decides about a post whose forward did not end SENT.

    SEND_FAILED ──post_retry_send──> QUEUED (the forward again, from the stored video)
    NEEDS_CHECK ──post_adopt(candidate)──> SENT as that post of Taisly's history
                ──post_send_again──> QUEUED (the person looked at history: not posted)
                ──post_give_up──> SEND_FAILED (retry remains)

Each takes the workspace's writer lock and the post's row lock, checks the state it starts from
(else ``PostActionError`` with a sentence) and is audited. "Read history again" is
``posting.sending.reconcile.post_recheck``.
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from accounts.access import lock_writer
from accounts.audit import audit_record
from accounts.models import AuditEvent, User
from posting.models import Post, reasons
from posting.sending import outcomes, queueing, reconcile
from posting.sending.errors import PostActionError

State = Post.State


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
        ident, results, date = reconcile.candidate_from_json(chosen)
        if not outcomes.mark_sent(
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
        transaction.on_commit(lambda: queueing.enqueue_forward(locked.pk))
    post.refresh_from_db()
    return post


def _lock_post(post: Post) -> Post:
    return Post.objects.select_for_update().get(pk=post.pk)
