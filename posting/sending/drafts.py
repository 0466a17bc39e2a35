"""Drafts: a post saved without sending it, edited later, then sent now or scheduled.

    compose "Save as draft" ──draft_create──> Draft (video stored; no Taisly request)
    draft page "Save draft" ──draft_update──> the same Draft (a new video replaces the old file)
    draft page "Post" / "Schedule" ──draft_send──> the post (a group when captions differ),
        QUEUED like any composed post; the draft is marked sent and its video belongs to the post
    draft page "Delete draft" ──draft_delete──> gone, its video deleted
    calendar "Move" ──draft_move──> the same Draft planned for another time

A draft's video counts against the workspace's kept-video storage (``limits``) from the moment
it is saved; retention (``cleanup``) never deletes it: it stays until the draft is sent (then its
post's retention applies) or deleted. Every action takes the workspace's writer lock and the
draft's row lock, and is audited.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.access import lock_writer
from accounts.audit import audit_record
from accounts.models import AuditEvent, User, Workspace
from posting.alerts import watchers
from posting.models import Draft, DraftVersion, Platform, Post, ReviewState, review_stages
from posting.sending import groups, limits, probe, queueing, thumbnails
from posting.sending import slots as slot_queue
from posting.sending.errors import PostActionError
from posting.sending.probe import VideoFacts
from posting.sending.receive import storage_name, usable_platforms

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DraftFields:
    """What a draft holds besides its video."""

    platforms: Sequence[Platform]
    description: str
    captions: Mapping[str, str]
    cover_second: float
    scheduled_at: datetime | None


def draft_create(
    *,
    workspace: Workspace,
    actor: User,
    video: UploadedFile,
    facts: VideoFacts,
    fields: DraftFields,
    token: uuid.UUID,
    request: HttpRequest | None = None,
) -> Draft:
    """Keep the video and save the draft; nothing goes to Taisly. The same ``token`` gives the
    same draft (a double click). Raises ``RoleRequired`` unless ``actor`` may write (under lock)
    and ``PostActionError`` when the video does not fit the workspace's storage."""
    existing = _draft_for_token(workspace, actor, token)
    if existing is not None:
        return existing
    draft = Draft(
        workspace=workspace,
        author=actor,
        idempotency_token=token,
        **_video_facts(video, facts),
    )
    draft.video.save(storage_name(video.name), video, save=False)
    try:
        with transaction.atomic():
            lock_writer(workspace=workspace, actor=actor)
            limits.storage_check(workspace=workspace, size=facts.size)
            _apply(draft, fields, facts.duration)
            draft.save()
            draft.target_platforms.set(_own_platforms(workspace, fields.platforms))
            _audit(draft, actor, AuditEvent.Action.DRAFT_SAVED, request, new=True)
            transaction.on_commit(lambda: thumbnails.draft_thumbnail_enqueue(draft.pk))
    except IntegrityError:
        draft.video.delete(save=False)
        existing = _draft_for_token(workspace, actor, token)
        if existing is None:
            raise
        return existing
    except BaseException:
        draft.video.delete(save=False)
        raise
    return draft


def draft_update(
    *,
    draft: Draft,
    actor: User,
    fields: DraftFields,
    video: UploadedFile | None = None,
    facts: VideoFacts | None = None,
    request: HttpRequest | None = None,
) -> Draft:
    """Save the draft's new caption(s), accounts, time and cover; a new ``video`` replaces the
    kept one (the old file is deleted once this commits)."""
    new_name = None
    if video is not None and facts is not None:
        holder = Draft()
        holder.video.save(storage_name(video.name), video, save=False)
        new_name = holder.video.name
    try:
        with transaction.atomic():
            lock_writer(workspace=draft.workspace, actor=actor)
            locked = _lock_open(draft)
            old_name, old_cover = locked.video.name, locked.cover_second
            if new_name is not None and facts is not None:
                limits.storage_check(
                    workspace=draft.workspace, size=max(0, facts.size - locked.video_size)
                )
                locked.video.name = new_name
                for name, value in _video_facts(video, facts).items():
                    setattr(locked, name, value)
            _apply(locked, fields, locked.video_duration or 0)
            thumbnails.draft_thumbnail_refresh(locked, video=old_name, cover=old_cover)
            platforms = _own_platforms(draft.workspace, fields.platforms)
            locked.save()
            locked.target_platforms.set(platforms)
            _audit(locked, actor, AuditEvent.Action.DRAFT_SAVED, request, new=False)
            _back_to_review(locked, actor, platforms, request)
            if new_name is not None and old_name:
                transaction.on_commit(lambda: _delete_file(locked, old_name))
    except BaseException:
        if new_name is not None:
            _delete_file(draft, new_name)
        raise
    return locked


def draft_send(
    *, draft: Draft, actor: User, queue: bool = False, request: HttpRequest | None = None
) -> Post:
    """Send the draft as it is: now, or at its planned time, or (``queue``) at the workspace's
    next free posting slot, chosen under the workspace's row lock. Returns the post (the lead
    of its group when captions differ). A draft already sent returns the post it became (a
    double click sends once). A draft that must be reviewed first (``posting.approvals``) is
    refused: it never reaches Taisly until it is approved (a held one, approved already, may
    go)."""
    with transaction.atomic():
        lock_writer(workspace=draft.workspace, actor=actor)
        locked = Draft.objects.select_for_update().get(pk=draft.pk)
        if locked.sent_post_id is not None:
            return Post.objects.get(pk=locked.sent_post_id)
        review_gate(locked, workflow_of(draft.workspace))
        lead = send_locked(
            locked=locked,
            workspace=draft.workspace,
            actor=actor,
            author=actor,
            queue=queue,
            request=request,
        )
    return lead


def planned_slot(workspace: Workspace) -> datetime:
    """For "Add to queue" on a post that must be reviewed first: the next free posting slot,
    to be its planned time (``PostActionError`` when there is none). Only a plan: a draft holds no
    slot, and once approved it is sent at that time (held if it has passed, like any planned
    time), so a post scheduled meanwhile at that slot's time may share it."""
    with transaction.atomic():
        slot_queue.lock_workspace(workspace)
        return slot_queue.queue_time(workspace)


def workflow_of(workspace: Workspace) -> str:
    """The workspace's approval workflow as stored now (read inside the caller's transaction)."""
    return Workspace.objects.values_list("approval_workflow", flat=True).get(pk=workspace.pk)


def review_gate(draft: Draft, workflow: str) -> None:
    """Refuse to send a draft whose review is not done (``PostActionError``)."""
    if draft.review_state == ReviewState.IN_REVIEW:
        raise PostActionError(_("This post is in review: it is sent when it is approved."))
    if draft.review_state == ReviewState.CHANGES_REQUESTED:
        raise PostActionError(
            _("Changes were requested: edit the post, then submit it for review again.")
        )
    if draft.review_state == "" and workflow != Workspace.ApprovalWorkflow.NONE:
        raise PostActionError(
            _("Posts in this workspace are reviewed before they are sent: submit it for review.")
        )


def send_locked(
    *,
    locked: Draft,
    workspace: Workspace,
    actor: User | None,
    author: User | None,
    queue: bool = False,
    request: HttpRequest | None = None,
    details: Mapping | None = None,
) -> Post:
    """Make the post of a draft whose row the caller has locked and whose authority it has
    checked (the draft page's writer, or the approval that was the last one needed). ``author``
    is who the post is by; ``actor`` who sent it (None: a review link, named in ``details``).
    ``queue``: at the workspace's next free posting slot, chosen under its row lock."""
    if locked.sent_at is not None:
        raise PostActionError(_("This draft was sent already."))
    if not locked.video:
        raise PostActionError(_("This draft has no video. Add one, then send it."))
    when = locked.scheduled_at
    if queue:
        slot_queue.lock_workspace(workspace)
        when = slot_queue.queue_time(workspace)
    elif when is not None and when <= timezone.now():
        raise PostActionError(
            _(
                "The draft's planned time has passed. Choose a later time, or post now, "
                "then send it."
            )
        )
    chosen = list(locked.target_platforms.all())
    if not chosen:
        raise PostActionError(_("Choose at least one account to post to."))
    usable = usable_platforms(workspace, chosen)
    plan = groups.caption_plan(usable, locked.description, locked.captions)
    rows = groups.group_create(
        workspace=workspace,
        actor=author,
        plan=plan,
        video=groups.video_fields(locked),
        cover_second=locked.cover_second,
        scheduled_at=when,
        token=uuid.uuid4(),
        from_queue=queue,
    )
    lead = rows[0]
    sent_at = timezone.now()
    # The post owns the file now: the draft no longer counts it. Its thumbnail too.
    thumbnails.draft_thumbnail_hand_over(locked, lead)
    Draft.objects.filter(pk=locked.pk).update(
        sent_post=lead, sent_at=sent_at, video="", thumbnail=""
    )
    locked.sent_post, locked.sent_at, locked.video, locked.thumbnail = lead, sent_at, "", ""
    audit_record(
        workspace=workspace,
        actor=actor,
        action=AuditEvent.Action.DRAFT_SENT,
        target=str(lead.code),
        details={
            "draft": str(locked.code),
            "platforms": [p.network for p in usable],
            "scheduled_at": when.isoformat() if when else None,
            "taisly_posts": len(rows),
            **(details or {}),
        },
        request=request,
    )
    for row in rows:
        transaction.on_commit(lambda pk=row.pk: queueing.enqueue_forward(pk))
        transaction.on_commit(lambda pk=row.pk: thumbnails.thumbnail_enqueue(pk))
    logger.info("Draft %s sent as post %s", locked.code, lead.code)
    return lead


def draft_delete(*, draft: Draft, actor: User, request: HttpRequest | None = None) -> None:
    """Delete the draft and its video (once this commits)."""
    with transaction.atomic():
        lock_writer(workspace=draft.workspace, actor=actor)
        locked = _lock_open(draft)
        name = locked.video.name
        _audit(locked, actor, AuditEvent.Action.DRAFT_DELETED, request, new=False)
        locked.delete()
        if name:
            transaction.on_commit(lambda: _delete_file(locked, name))


def draft_move(
    *, draft: Draft, actor: User, scheduled_at: datetime, request: HttpRequest | None = None
) -> Draft:
    """Plan the draft for another time (the calendar's "Move"); nothing else changes and nothing
    goes to Taisly. Raises ``RoleRequired`` unless ``actor`` may write (under lock) and
    ``PostActionError`` when the time has passed or the draft was sent or deleted meanwhile.
    A draft in review keeps its review state, as any edit of its time alone does
    (``_back_to_review``: the time is not what reviewers approve); a held one stays held until
    its author sends it at the new time."""
    with transaction.atomic():
        lock_writer(workspace=draft.workspace, actor=actor)
        locked = _lock_open(draft)
        if scheduled_at <= timezone.now():
            raise PostActionError(_("Choose a time that has not passed yet."))
        before = locked.scheduled_at
        locked.scheduled_at = scheduled_at
        locked.save(update_fields=["scheduled_at", "updated_at"])
        audit_record(
            workspace=draft.workspace,
            actor=actor,
            action=AuditEvent.Action.DRAFT_SAVED,
            target=str(locked.code),
            details={
                "scheduled_at": {
                    "from": before.isoformat() if before else None,
                    "to": scheduled_at.isoformat(),
                }
            },
            request=request,
        )
    return locked


# --- helpers ---------------------------------------------------------------------------------


def _back_to_review(draft: Draft, actor: User, platforms: list[Platform], request) -> None:
    """An edit of a draft in review, or of an approved one held past its time, that changes
    what the reviewers saw (anything but the time) sends it back to the workflow's first stage,
    as a new version. Changes requested: it stays so until its author submits it again, but
    the edit is a version (its writer may not approve the post: ``posting.approvals``)."""
    if draft.review_state not in (
        ReviewState.IN_REVIEW,
        ReviewState.HELD,
        ReviewState.CHANGES_REQUESTED,
    ):
        return
    last = DraftVersion.objects.filter(draft=draft).order_by("-number").first()
    if last is not None and last.content() == draft.review_content(platforms):
        return
    if draft.review_state == ReviewState.CHANGES_REQUESTED:
        DraftVersion.record(draft, actor, platforms)
        return
    stages = review_stages(workflow_of(draft.workspace))
    if not stages:
        return
    before = draft.review_state
    DraftVersion.record(draft, actor, platforms)
    now = timezone.now()
    Draft.objects.filter(pk=draft.pk).update(
        review_state=ReviewState.IN_REVIEW,
        review_stage=stages[0],
        submitted_at=now,
        held_reason="",
    )
    draft.review_state, draft.review_stage = ReviewState.IN_REVIEW, stages[0]
    draft.submitted_at, draft.held_reason = now, ""
    audit_record(
        workspace=draft.workspace,
        actor=actor,
        action=AuditEvent.Action.REVIEW_RESET,
        target=str(draft.code),
        details={"from": before, "stage": stages[0]},
        request=request,
    )
    watchers.submitted(draft, actor_id=actor.pk)


def _lock_open(draft: Draft) -> Draft:
    locked = Draft.objects.select_for_update().filter(pk=draft.pk).first()
    if locked is None or locked.sent_at is not None:
        raise PostActionError(_("This draft was sent or deleted already."))
    locked.workspace = draft.workspace
    return locked


def _apply(draft: Draft, fields: DraftFields, duration: float) -> None:
    draft.description = fields.description
    draft.captions = dict(fields.captions)
    # Past the video's end: its last frame, and the draft's view says so.
    draft.cover_second = probe.cover_within(fields.cover_second, duration)
    draft.scheduled_at = fields.scheduled_at


def _own_platforms(workspace: Workspace, platforms: Sequence[Platform]) -> list[Platform]:
    return list(Platform.objects.filter(workspace=workspace, pk__in=[p.pk for p in platforms]))


def _video_facts(video: UploadedFile, facts: VideoFacts) -> dict:
    return {
        "video_name": os.path.basename(video.name or "video")[:255],
        "video_size": facts.size,
        "video_sha256": video_digest(video),
        "video_duration": facts.duration,
        "video_width": facts.width,
        "video_height": facts.height,
    }


def video_digest(video: UploadedFile) -> str:
    """The upload's SHA-256: taken while it streamed in (``LimitedTemporaryFileUploadHandler``),
    or read now for a file that came another way."""
    digest = getattr(video, "sha256", "")
    if digest:
        return digest
    hasher = hashlib.sha256()
    for chunk in video.chunks():
        hasher.update(chunk)
    video.seek(0)
    return hasher.hexdigest()


def _delete_file(draft: Draft, name: str) -> None:
    try:
        draft.video.storage.delete(name)
    except Exception:  # any storage's failure: the file is orphaned, not the draft
        logger.exception("The old video of draft %s could not be deleted", draft.code)


def _audit(draft: Draft, actor: User, action: str, request, *, new: bool) -> None:
    audit_record(
        workspace=draft.workspace,
        actor=actor,
        action=action,
        target=str(draft.code),
        details={
            "description": draft.description[:100],
            "video": draft.video_name,
            **({"size": draft.video_size} if new else {}),
        },
        request=request,
    )


def _draft_for_token(workspace: Workspace, actor: User, token: uuid.UUID) -> Draft | None:
    draft = Draft.objects.filter(idempotency_token=token).first()
    if draft is None:
        return None
    if draft.workspace_id != workspace.pk or draft.author_id != actor.pk:
        raise PostActionError(_("This form was already used. Reload the page and try again."))
    return draft
