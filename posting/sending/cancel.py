"""Actions on one post that is already at Taisly: cancelling a scheduled one.

    post page ──confirm──> post_cancel(post, actor)
        1. transaction: lock_actor_role (owner or editor) and the post; is it
           scheduled, at Taisly, and not yet due?  (no → PostActionError, Taisly not asked)
        2. taisly_for(workspace).cancel_scheduled(taisly_id)     (no transaction held)
        3. transaction: post → CANCELLED, audited POST_CANCELLED

No transaction is held open across the Taisly call (as in the key actions: on SQLite a write
transaction locks the whole file, and a slow Taisly would stall every request). The authority
and state check of step 1 is therefore repeated by Taisly itself: it refuses a post that went
out meanwhile, and that refusal becomes a sentence.
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.access import lock_actor_role
from accounts.audit import audit_record
from accounts.models import AuditEvent, Membership, User
from posting.models import Post
from posting.sending.errors import PostActionError
from posting.sending.groups import group_rows
from posting.taisly import TaislyRejected
from posting.taisly.gateway import TaislyActionError, taisly_for


def can_cancel(post: Post, now=None) -> bool:
    """Whether the page offers "Cancel": scheduled at Taisly and not yet due."""
    now = now or timezone.now()
    return bool(
        post.state == Post.State.SENT
        and post.taisly_id
        and post.scheduled_at is not None
        and post.due_at is not None
        and post.due_at > now
    )


def refusal(post: Post, now) -> str | None:
    """Why ``post`` cannot be cancelled (or edited) now; None when it can."""
    if post.state == Post.State.CANCELLED:
        return _("This post was already cancelled.")
    if post.state in (Post.State.EDITING, Post.State.REPLACING):
        return _("This post is being edited. Wait until the edit is done, then try again.")
    if post.state in (Post.State.QUEUED, Post.State.SENDING):
        return _(
            "This post is still on its way to Taisly. It can be cancelled once Taisly has "
            "scheduled it."
        )
    if post.scheduled_at is None or not post.taisly_id or post.state != Post.State.SENT:
        return _("Only a post scheduled at Taisly can be cancelled; this one was not scheduled.")
    if post.due_at is None or post.due_at <= now:
        return _("This post can no longer be cancelled: its time has come and it has gone out.")
    return None


def post_cancel(*, post: Post, actor: User, request: HttpRequest | None = None) -> Post:
    """Cancel a scheduled post at Taisly (which deletes it there) and mark it CANCELLED here.
    A post with a caption per network is one Taisly post per caption: each is cancelled in turn.

    Raises ``RoleRequired`` when the actor may not write (checked under lock), and
    ``PostActionError`` with a sentence when the post cannot be cancelled or Taisly refuses or
    cannot be reached (saying which parts were cancelled before, if any).
    """
    rows = [r for r in group_rows(post) if r.state != Post.State.CANCELLED] or [post]
    done: list[str] = []
    for row in rows:
        row.workspace = post.workspace
        try:
            _cancel_row(row, actor, request)
        except PostActionError as exc:
            if not done:
                raise
            raise PostActionError(
                _("Cancelled for %(networks)s. %(reason)s")
                % {"networks": ", ".join(done), "reason": exc.message}
            ) from None
        done.extend(p.network for p in row.target_platforms.all())
    post.refresh_from_db()
    return post


def _cancel_row(post: Post, actor: User, request: HttpRequest | None) -> Post:
    with transaction.atomic():
        # Raises RoleRequired (a PermissionDenied: the view answers 403) for a viewer, a staff
        # member looking in, or someone demoted since the page was shown.
        lock_actor_role(
            workspace=post.workspace,
            actor=actor,
            roles=(Membership.Role.OWNER, Membership.Role.EDITOR),
        )
        locked = Post.objects.select_for_update().get(pk=post.pk)
        why = refusal(locked, timezone.now())
        if why:
            raise PostActionError(why)
        taisly_id = locked.taisly_id

    try:
        with taisly_for(post.workspace) as client:
            client.cancel_scheduled(taisly_id)
    except TaislyActionError as exc:
        if isinstance(exc.cause, TaislyRejected):
            raise PostActionError(
                _(
                    "Taisly no longer allows cancelling this post: it has gone out, or it was "
                    "cancelled already. Sync now to see where it stands."
                )
            ) from None
        if exc.ambiguous:
            raise PostActionError(
                _(
                    "%(reason)s The post may or may not have been cancelled; sync now to see "
                    "where it stands."
                )
                % {"reason": exc.message}
            ) from None
        raise PostActionError(
            _("%(reason)s The post was not cancelled.") % {"reason": exc.message}
        ) from None

    with transaction.atomic():
        locked = Post.objects.select_for_update().get(pk=post.pk)
        locked.state = Post.State.CANCELLED
        locked.state_reason = ""
        locked.save(update_fields=["state", "state_reason", "updated_at"])
        audit_record(
            workspace=post.workspace,
            actor=actor,
            action=AuditEvent.Action.POST_CANCELLED,
            target=str(post.code),
            details={
                "taisly_id": taisly_id,
                "scheduled_at": locked.scheduled_at.isoformat() if locked.scheduled_at else None,
                "description": locked.description[:100],
            },
            request=request,
        )
    return locked
