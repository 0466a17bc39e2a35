"""Receive a composed post: store its video, make the QUEUED post, and queue its forward.

    compose form ──post_create──> Post QUEUED (video in storage, one per idempotency token)
        │  a caption per network: one Post per distinct caption, the first the group's lead
        │  (``posting.sending.groups``), all sharing the one stored video
        └─ on commit, once per row: forward_post(post_id) on the `uploads` cluster
           (``posting.sending.forward``) and make_thumbnail(post_id) on the default one
           (``posting.sending.thumbnails``)

The video stays in storage for ``POST_VIDEO_RETAIN_DAYS`` after sending;
``posting.sending.cleanup`` deletes it then.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from accounts.access import lock_writer
from accounts.audit import audit_record
from accounts.models import AuditEvent, TaislyConnection, User, Workspace
from posting.models import Platform, Post
from posting.sending import groups, limits, probe, queueing, thumbnails
from posting.sending import slots as slot_queue
from posting.sending.errors import PostActionError
from posting.sending.probe import VideoFacts

logger = logging.getLogger(__name__)


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
    captions: Mapping[str, str] | None = None,
    queue: bool = False,
    request: HttpRequest | None = None,
) -> Post:
    """Store the video and queue the post; its forward to Taisly starts once this commits.
    Returns the post (with a caption per network: the lead of its group).

    The same ``token`` (one per rendering of the form) always gives the same post: a double
    click, a resubmitted form or a retried request returns the post the first one made.
    Raises ``RoleRequired`` (a ``PermissionDenied``) unless ``actor`` may write in
    ``workspace`` (checked under lock), ``PostActionError`` when a platform cannot be posted to,
    the workspace has no key, or keeping the video would pass its storage limit.

    ``queue``: "Add to queue": ``scheduled_at`` is ignored and the post takes the workspace's
    next free posting slot, chosen under the workspace's row lock (``posting.sending.queue``).
    """
    existing = _post_for_token(workspace, actor, token)
    if existing is not None:
        return existing
    if not platforms:
        raise PostActionError(_("Choose at least one account to post to."))
    # Past the video's end: its last frame, and the compose view says so.
    cover_second = probe.cover_within(cover_second, facts.duration)

    post = Post(
        video_name=os.path.basename(video.name or "video")[:255],
        video_size=facts.size,
        video_duration=facts.duration,
        video_width=facts.width,
        video_height=facts.height,
    )
    # Saved before the transaction: with the temp dir on the media filesystem this is a rename,
    # and no lock is held while it happens. Removed again below if the row is not made.
    post.video.save(storage_name(video.name), video, save=False)
    try:
        with transaction.atomic():
            lock_writer(workspace=workspace, actor=actor)
            _no_review_needed(workspace)
            # Locks the workspace's row: the slot below is chosen under it.
            limits.storage_check(workspace=workspace, size=facts.size)
            if queue:
                scheduled_at = slot_queue.queue_time(workspace)
            usable = usable_platforms(workspace, platforms)
            rows = groups.group_create(
                workspace=workspace,
                actor=actor,
                plan=groups.caption_plan(usable, description, captions),
                video=groups.video_fields(post),
                cover_second=cover_second,
                scheduled_at=scheduled_at,
                token=token,
                from_queue=queue,
            )
            post = rows[0]
            audit_record(
                workspace=workspace,
                actor=actor,
                action=AuditEvent.Action.POST_CREATED,
                target=str(post.code),
                details={
                    "platforms": [p.network for p in usable],
                    "scheduled_at": scheduled_at.isoformat() if scheduled_at else None,
                    **({"queue": True} if queue else {}),
                    "video": post.video_name,
                    "size": post.video_size,
                    **({"taisly_posts": len(rows)} if len(rows) > 1 else {}),
                },
                request=request,
            )
            for row in rows:
                transaction.on_commit(lambda pk=row.pk: queueing.enqueue_forward(pk))
                transaction.on_commit(lambda pk=row.pk: thumbnails.thumbnail_enqueue(pk))
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


def _no_review_needed(workspace: Workspace) -> None:
    """A workspace with an approval workflow sends nothing that was not approved: the compose
    form's "Submit for review" saves a draft instead (``posting.approvals``)."""
    workflow = Workspace.objects.values_list("approval_workflow", flat=True).get(pk=workspace.pk)
    if workflow != Workspace.ApprovalWorkflow.NONE:
        raise PostActionError(
            _("Posts in this workspace are reviewed before they are sent: submit it for review.")
        )


def usable_platforms(workspace: Workspace, platforms: Sequence[Platform]) -> list[Platform]:
    """``platforms`` as they are now, in their order, if a post may go to each of them; else
    ``PostActionError`` (no working key, or an account no longer connected)."""
    if not TaislyConnection.objects.filter(
        workspace=workspace, status=TaislyConnection.Status.ACTIVE
    ).exists():
        raise PostActionError(
            _("This workspace has no working Taisly key, so nothing can be posted yet.")
        )
    ids = [p.pk for p in platforms]
    usable = {
        p.pk: p
        for p in Platform.objects.filter(
            workspace=workspace, pk__in=ids, connected=True, gone_at__isnull=True
        )
    }
    if len(usable) != len(set(ids)):
        raise PostActionError(
            _(
                "One of the chosen accounts is no longer connected in Taisly. Reload the "
                "page and choose again."
            )
        )
    return [usable[pk] for pk in dict.fromkeys(ids)]


def _post_for_token(workspace: Workspace, actor: User, token: uuid.UUID) -> Post | None:
    post = Post.objects.filter(idempotency_token=token).first()
    if post is not None and post.group_id:
        post = None  # a member's own token: no form made it
    if post is None:
        return None
    if post.workspace_id != workspace.pk or post.author_id != actor.pk:
        # A token is one form shown to one person; anything else is a forged request.
        raise PostActionError(_("This form was already used. Reload the page and try again."))
    return post


def storage_name(name: str | None) -> str:
    # The original name is kept in video_name; storage gets a name that cannot collide or
    # carry anything odd, with the extension Taisly uses to tell the container.
    extension = Path(name or "").suffix.lower()[:8] or ".mp4"
    return f"{uuid.uuid4().hex}{extension}"
