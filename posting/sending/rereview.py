"""A scheduled post whose content is edited in a workspace with review goes back to review.

What reviewers approved is not changed behind their backs: an edit of the caption(s), the
accounts or the cover of a post scheduled at Taisly is made by the edit machinery
(``posting.sending.edits``) up to the cancel, and then, instead of making the post again at
Taisly, the edit becomes a draft in review:

    post_edit (content changed, review on) ──> EDITING, edit_pending["review"] (audited)
    the uploads worker cancels every Taisly post of the group (as any edit; a cancel refused
        ──> the edit stops, the post stays scheduled as it was, "Edit not made" alert)
    every one cancelled ──back_to_review──> in one transaction:
        a Draft in review (the workflow's first stage) with the edit's captions, accounts,
        time and cover, by the post's author; its versions: the original draft's (what was
        approved) and then the edit, by the editor (four eyes: they do not approve it)
        the kept video (and the thumbnail, same frame) handed from the post to the draft: the
        post's field emptied, so retention never deletes the draft's file and storage counts
        it once
        every row of the post CANCELLED, its reason saying it went back to review

``Draft.from_post`` is unique: a worker that died after that transaction finds the post
CANCELLED (nothing to claim), one that died before it does it all again; never two drafts.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import AuditEvent, User
from posting.alerts import watchers
from posting.models import (
    Draft,
    DraftVersion,
    Platform,
    Post,
    ReviewState,
    reasons,
    review_stages,
)
from posting.sending import thumbnails

logger = logging.getLogger(__name__)

State = Post.State


def review_pending(pending: dict) -> dict:
    """The edit's "back to review" part (empty: an ordinary edit, made again at Taisly)."""
    value = (pending or {}).get("review")
    return value if isinstance(value, dict) else {}


def back_to_review(lead: Post, rows: list[Post], workflow: str) -> Draft:
    """Every Taisly post of ``lead``'s group is cancelled: make the edit a draft in review and
    end the post CANCELLED (see the module's diagram). Returns the draft (the one made already
    when this runs again)."""
    stages = review_stages(workflow)
    with transaction.atomic():
        locked = Post.objects.select_for_update().get(pk=lead.pk)
        existing = Draft.objects.filter(from_post=locked).first()
        if existing is not None:
            return existing
        pending = locked.edit_pending or {}
        review = review_pending(pending)
        editor = User.objects.filter(pk=review.get("editor")).first()
        chosen = list(
            Platform.objects.filter(
                workspace_id=locked.workspace_id, pk__in=review.get("platforms") or []
            )
        )
        draft = Draft.objects.create(
            workspace_id=locked.workspace_id,
            author_id=locked.author_id,
            description=review.get("description", locked.description),
            captions=dict(review.get("captions") or {}),
            cover_second=float(pending.get("cover_second") or 0),
            scheduled_at=parse_datetime(pending.get("scheduled_at") or ""),
            from_post=locked,
            review_state=ReviewState.IN_REVIEW,
            review_stage=stages[0],
            submitted_at=timezone.now(),
            video=locked.video.name,
            video_name=locked.video_name,
            video_size=locked.video_size,
            # The file is the one its source draft was approved with: its hash goes on with it.
            video_sha256=Draft.objects.filter(sent_post=locked)
            .values_list("video_sha256", flat=True)
            .first()
            or "",
            video_duration=locked.video_duration,
            video_width=locked.video_width,
            video_height=locked.video_height,
        )
        draft.workspace = lead.workspace
        draft.target_platforms.set(chosen)
        _versions_carried(locked, draft)
        DraftVersion.record(draft, editor, chosen)
        # Its reviewers are told it waits for them again (the editor and author watch it).
        watchers.submitted(draft, actor_id=editor.pk if editor else None)
        handed = _thumbnail_handed(locked, draft)

        def reason() -> str:
            return _(
                "Its content was edited after it was approved, and this workspace reviews "
                "posts: it was taken off Taisly's schedule and went back to review as a draft. "
                "It goes out again only when it is approved."
            )

        # The file is the draft's now: no row of the post keeps it (a group shares the lead's).
        ids = [r.pk for r in rows]
        Post.objects.filter(pk__in=ids).update(
            state=State.CANCELLED,
            state_reason=reasons.store(reason),
            edit_pending={},
            video="",
            updated_at=timezone.now(),
        )
        if handed:
            Post.objects.filter(pk=locked.pk).update(thumbnail="")
        audit_record(
            workspace=lead.workspace,
            actor=None,
            action=AuditEvent.Action.POST_BACK_TO_REVIEW,
            target=str(locked.code),
            details={
                "draft": str(draft.code),
                "editor": editor.email if editor else None,
                "stage": stages[0],
                "cancelled": [r.replaced_taisly_id for r in rows],
                "scheduled_at": pending.get("scheduled_at"),
            },
        )
        if not handed:
            transaction.on_commit(lambda: thumbnails.draft_thumbnail_enqueue(draft.pk))
    logger.info("Post %s: edited in review, back to review as draft %s", lead.code, draft.code)
    return draft


def _versions_carried(post: Post, draft: Draft) -> None:
    """The versions of the draft ``post`` was sent from (what reviewers approved, and before),
    carried to the new draft with their numbers, so its page shows what the edit changed."""
    source = Draft.objects.filter(sent_post=post).first()
    if source is None:
        return
    DraftVersion.objects.bulk_create(
        DraftVersion(
            draft=draft,
            number=v.number,
            description=v.description,
            captions=v.captions,
            networks=v.networks,
            platform_ids=v.platform_ids,
            scheduled_at=v.scheduled_at,
            cover_second=v.cover_second,
            video_name=v.video_name,
            video_size=v.video_size,
            video_sha256=v.video_sha256,
            author_id=v.author_id,
            created_at=v.created_at,
        )
        for v in DraftVersion.objects.filter(draft=source).order_by("number")
    )


def _thumbnail_handed(post: Post, draft: Draft) -> bool:
    """The post's thumbnail becomes the draft's when it shows the same frame."""
    if not post.thumbnail or post.cover_second != draft.cover_second:
        return False
    Draft.objects.filter(pk=draft.pk).update(thumbnail=post.thumbnail.name)
    draft.thumbnail.name = post.thumbnail.name
    return True
