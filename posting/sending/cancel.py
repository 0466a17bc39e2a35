"""Actions on one post that is already at Taisly: cancelling a scheduled one.

    post page ──confirm──> post_cancel(post, actor)
        1. transaction: lock_actor_role (owner or editor) and the post; is it
           scheduled, at Taisly, and not yet due?  (no → PostActionError, Taisly not asked)
           yes → SENT ──> CANCELLING (committed: the post is taken for the cancel)
        2. taisly_for(workspace).cancel_scheduled(taisly_id)     (no transaction held)
        3. conditional UPDATE from CANCELLING: cancelled → CANCELLED, audited POST_CANCELLED;
           not cancelled → SENT again, and the sentence says why

No transaction is held open across the Taisly call (as in the key actions: on SQLite a write
transaction locks the whole file, and a slow Taisly would stall every request). The state of
step 1 is what serializes a cancel with an edit: an edit asked for while the post is
CANCELLING is refused with a sentence (``refusal``), as a cancel is while it is EDITING or
REPLACING, so the two never both act on one Taisly post (an edit's worker would otherwise find
the post gone and make it again). Taisly itself refuses a post that went out meanwhile, and that
refusal becomes a sentence. A web process that dies at step 2 leaves CANCELLING: the stalled
check settles it from history (``cancel_settle``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

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

#: History is read this far either side of a post's time to see whether it is still there.
LOOK_AROUND = timedelta(minutes=10)


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
    if post.state == Post.State.CANCELLING:
        return _("This post is being cancelled at Taisly right now, so it cannot be changed.")
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
        Post.objects.filter(pk=post.pk).update(
            state=Post.State.CANCELLING, updated_at=timezone.now()
        )

    try:
        with taisly_for(post.workspace) as client:
            client.cancel_scheduled(taisly_id)
    except TaislyActionError as exc:
        # Not cancelled (or not known to be): the post is SENT again, as it was.
        Post.objects.filter(pk=post.pk, state=Post.State.CANCELLING).update(
            state=Post.State.SENT, updated_at=timezone.now()
        )
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
    return _cancelled(post, taisly_id, actor, request)


def _cancelled(post: Post, taisly_id: str, actor: User | None, request: HttpRequest | None) -> Post:
    """CANCELLING ──> CANCELLED (conditional: a settled post is left as it is), audited."""
    with transaction.atomic():
        Post.objects.filter(pk=post.pk, state=Post.State.CANCELLING).update(
            state=Post.State.CANCELLED, state_reason="", updated_at=timezone.now()
        )
        locked = Post.objects.get(pk=post.pk)
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


def cancel_settle(*, post_id: int, stale_before: datetime, now: datetime) -> str:
    """A cancel whose web process died at Taisly (CANCELLING since before ``stale_before``):
    history decides. Gone: CANCELLED (the cancel went through); still there: SENT as it was;
    unreadable: left for the next check. Claimed by a conditional UPDATE, so once."""
    claimed = Post.objects.filter(
        pk=post_id, state=Post.State.CANCELLING, updated_at__lt=stale_before
    ).update(updated_at=now)
    if claimed != 1:
        return "not claimed"
    post = Post.objects.select_related("workspace").get(pk=post_id)
    present = still_at_taisly(post)
    if present is None:
        return "unknown"
    if present:
        Post.objects.filter(pk=post_id, state=Post.State.CANCELLING).update(
            state=Post.State.SENT, updated_at=timezone.now()
        )
        return "cancel not made"
    _cancelled(post, post.taisly_id or "", None, None)
    return "cancelled"


def still_at_taisly(post: Post) -> bool | None:
    """True / False: ``post``'s Taisly post is / is not in history around its time; None: the
    history could not be read."""
    due = post.due_at or post.scheduled_at or timezone.now()
    try:
        with taisly_for(post.workspace) as client:
            found = client.history_between(due - LOOK_AROUND, due + LOOK_AROUND)
    except TaislyActionError:
        return None
    return any(item.id == post.taisly_id for item in found)
