"""Edit and reschedule a scheduled post: its caption(s), accounts, time and cover.

Taisly has no edit call, so an edit cancels the post at Taisly and makes it again from the kept
video. For the person it is one action; the rows go through states of their own, so that no
moment leaves the post silently gone or doubled:

    SENT (scheduled, not due) ──post_edit──> EDITING (the edit stored on the lead, audited)
        └─ on commit: edit_post(lead id) on the uploads cluster
    EDITING ──post_replace: claimed (conditional UPDATE; a redelivery finds nothing)──> REPLACING
        for each Taisly post of the group, in turn: cancel it at Taisly
            cancelled ──> taisly_id cleared, kept as replaced_taisly_id
            refused / unreachable ──> history read once: still there ─> the edit stops here
                                                          gone ────────> counted as cancelled
        every one cancelled, in a workspace with review and new content (captions, accounts,
            cover) ──> back to review: a draft in review, the post CANCELLED (posting.sending.
            rereview); nothing is made at Taisly until it is approved again
        every one cancelled ──> the edit applied: QUEUED (the forward, posting.sending.forward)
            its re-create failing ─> SEND_FAILED "nothing is scheduled now" + alert;
                                     "Try sending again" (one click) sends the edited post
        one not cancelled ──> that one and the rest: SENT as they were, with the reason;
                              the ones already cancelled: SEND_FAILED "nothing is scheduled
                              for these networks now" + alert; "Try sending again" restores them

    a worker that dies (or a task that never comes): the stalled check, after the uploads
    task timeout and five minutes, claims the edit again (``edit_resume``) and decides from
    history: the new time still ahead ─> resumed where it stopped (a post already cancelled is
    found gone and counted, never cancelled or made twice); passed ─> settled as above
    (kept ones SENT, cancelled ones SEND_FAILED) with an ``edit_failed`` alert.

Every edit not made raises an ``edit_failed`` alert saying what is scheduled now. While a
cancel is at Taisly (CANCELLING) an edit is refused, and a cancel while EDITING or REPLACING
(``cancel.refusal``): the two never act on one Taisly post together.

An edit costs one request per Taisly post cancelled and one upload and request per post made
(``groups.edit_cost``): said on the form before the click. No transaction is held across a
Taisly call.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.access import lock_writer
from accounts.audit import audit_record
from accounts.models import AuditEvent, User, Workspace
from posting.alerts.rules import edit_failed_alert, post_alerts_resolve
from posting.models import Platform, Post, PostResult, reasons, review_stages
from posting.sending import groups, outcomes, queueing, rereview, thumbnails
from posting.sending.cancel import can_cancel, refusal, still_at_taisly
from posting.sending.drafts import workflow_of
from posting.sending.errors import PostActionError
from posting.sending.receive import usable_platforms
from posting.taisly import TaislyRejected
from posting.taisly.gateway import TaislyActionError, taisly_for

logger = logging.getLogger(__name__)

State = Post.State

EDIT_STOPPED_KEPT = gettext_noop(
    "The edit was not made: %(why)s The post is still scheduled at Taisly as it was."
)


@dataclass(frozen=True)
class PostChange:
    """An edit: the accounts, the caption for all and any caption per network, time, cover."""

    platforms: Sequence[Platform]
    description: str
    captions: Mapping[str, str]
    cover_second: float
    scheduled_at: datetime


def can_edit(post: Post, now=None) -> bool:
    """Whether the page offers "Edit": the post (a group's lead) is scheduled at Taisly and
    not yet due. The service checks every row of the group again, under lock."""
    return post.group_id is None and can_cancel(post, now) and bool(post.video)


def current_captions(rows: Sequence[Post], targets: Mapping[int, list[Platform]]) -> tuple:
    """The group as the edit form shows it: its platforms, the caption for all (the lead's),
    and each network's own caption where it differs."""
    lead = rows[0]
    platforms: list[Platform] = []
    captions: dict[str, str] = {}
    for row in rows:
        for platform in targets.get(row.pk, []):
            platforms.append(platform)
            if row.description != lead.description:
                captions[platform.network] = row.description
    return platforms, lead.description, captions


def post_edit(
    *, post: Post, actor: User, change: PostChange, request: HttpRequest | None = None
) -> Post:
    """Ask for the edit: checks it under lock, stores it on the lead, moves every row of the
    group to EDITING and queues the uploads worker's ``post_replace``. Returns the lead.

    Raises ``RoleRequired`` unless ``actor`` may write, and ``PostActionError`` with a sentence
    when a row cannot be cancelled any more, an account is not usable, the video is gone, or the
    edit changes nothing."""
    now = timezone.now()
    with transaction.atomic():
        lock_writer(workspace=post.workspace, actor=actor)
        lead_id = post.group_id or post.pk
        rows = [Post.objects.select_for_update().get(pk=lead_id)] + list(
            Post.objects.select_for_update().filter(group_id=lead_id).order_by("id")
        )
        lead = rows[0]
        lead.workspace = post.workspace
        for row in rows:
            why = refusal(row, now)
            if why:
                raise PostActionError(why)
        if not lead.video or lead.video_deleted_at:
            raise PostActionError(
                _("The video is no longer kept on the server, so this post cannot be remade.")
            )
        if change.scheduled_at <= now:
            raise PostActionError(_("Choose a time that has not passed yet."))
        duration = lead.video_duration
        if duration is not None and change.cover_second > duration:
            # Nothing was uploaded with an edit: the form asks again rather than move the cover.
            raise PostActionError(
                _(
                    "The cover time (%(asked)s s) is past the end of the video (%(duration)s s). "
                    "Choose a time from 0 to %(duration)s s."
                )
                % {
                    "asked": number_format(change.cover_second, decimal_pos=1),
                    "duration": number_format(duration, decimal_pos=1),
                }
            )
        usable = usable_platforms(post.workspace, change.platforms)
        plan = groups.caption_plan(usable, change.description, change.captions)
        before = _as_plan(rows)
        after = [[part.caption, sorted(p.pk for p in part.platforms)] for part in plan]
        content_same = sorted(before) == sorted(after) and lead.cover_second == change.cover_second
        # What reviewers approved is not changed behind their backs: new content goes back to
        # review (``posting.sending.rereview``); a new time alone is no new content.
        to_review = (
            not content_same and workflow_of(post.workspace) != Workspace.ApprovalWorkflow.NONE
        )
        if (
            sorted(before) == sorted(after)
            and lead.scheduled_at == change.scheduled_at
            and lead.cover_second == change.cover_second
        ):
            raise PostActionError(_("Nothing was changed, so nothing was sent to Taisly."))
        pending = {
            "scheduled_at": change.scheduled_at.isoformat(),
            "cover_second": change.cover_second,
            "groups": [{"caption": c, "platforms": pks} for c, pks in after],
        }
        if to_review:
            pending["review"] = {
                "editor": actor.pk,
                "description": change.description,
                "captions": {
                    network: caption
                    for network, caption in change.captions.items()
                    if network in {p.network for p in usable}
                },
                "platforms": [p.pk for p in usable],
            }
        # updated_at: when the edit was asked for, read by the stalled check (``edit_resume``).
        Post.objects.filter(pk__in=[r.pk for r in rows]).update(state=State.EDITING, updated_at=now)
        Post.objects.filter(pk=lead.pk).update(edit_pending=pending, state_reason="")
        audit_record(
            workspace=post.workspace,
            actor=actor,
            action=AuditEvent.Action.POST_EDIT_REQUESTED,
            target=str(lead.code),
            details={
                "from": {
                    "scheduled_at": lead.scheduled_at.isoformat() if lead.scheduled_at else None,
                    "captions": [c for c, _pks in before],
                    "platforms": [p for _c, pks in before for p in pks],
                },
                "to": {
                    "scheduled_at": change.scheduled_at.isoformat(),
                    "captions": [c for c, _pks in after],
                    "platforms": [p.network for p in usable],
                },
                "requests": len(rows) if to_review else groups.edit_cost(len(rows), plan).requests,
                **({"review": True} if to_review else {}),
            },
            request=request,
        )
        transaction.on_commit(lambda: queueing.enqueue_edit(lead.pk))
    lead.refresh_from_db()
    return lead


def post_replace(*, post_id: int) -> str:
    """The uploads worker's half of an edit (see the module's diagram). Returns what happened."""
    claimed = Post.objects.filter(pk=post_id, state=State.EDITING, group__isnull=True).update(
        state=State.REPLACING, updated_at=timezone.now()
    )
    if claimed != 1:
        return "not claimed"
    return _replace(post_id)


def edit_resume(*, post_id: int, stale_before: datetime, now: datetime | None = None) -> str:
    """An edit whose worker died (or whose task never came) before ``stale_before``: claimed
    again (a conditional UPDATE: one check, one task, never two), then decided from Taisly.

    - the edit's new time is still ahead: it is resumed where it stopped. Each Taisly post not
      yet marked cancelled is cancelled (one the dead worker cancelled already is refused, and
      history says it is gone), then the edit is applied. Nothing was made again yet: that
      happens only from QUEUED, whose own stalled check covers it.
    - an edit going back to review (``rereview``) is resumed so whatever its time.
    - the new time has passed: the edit can no longer be made. History says which originals are
      still there (they stay SENT as they were, with an ``edit_failed`` alert) and which the
      dead worker cancelled (SEND_FAILED, "nothing is scheduled for these networks now", with a
      ``send_failed`` alert and the one-click "Try sending again"). History unreadable: nothing
      is decided and the next check reads it again.
    """
    now = now or timezone.now()
    claimed = Post.objects.filter(
        pk=post_id,
        group__isnull=True,
        state__in=(State.EDITING, State.REPLACING),
        updated_at__lt=stale_before,
    ).update(state=State.REPLACING, updated_at=now)
    if claimed != 1:
        return "not claimed"
    Post.objects.filter(group_id=post_id, state=State.EDITING).update(state=State.REPLACING)
    rows = groups.group_rows(Post(pk=post_id))
    lead = rows[0]
    when = parse_datetime((lead.edit_pending or {}).get("scheduled_at") or "")
    if (when is not None and when > now) or rereview.review_pending(lead.edit_pending):
        # An edit going back to review is resumed whatever its time: a draft is made, and
        # approved after its time it is held, not sent late (``posting.approvals``).
        logger.warning("Post %s: a stalled edit is resumed", lead.code)
        return _replace(post_id)
    gone: list[Post] = []
    for row in rows:
        if row.state != State.REPLACING or not row.taisly_id:
            continue
        present = still_at_taisly(row)
        if present is None:
            logger.warning("Post %s: a stalled edit waits for history to be readable", lead.code)
            return "unknown"
        if present is False:
            gone.append(row)
    for row in gone:
        _mark_cancelled(row)
    cancelled = [r for r in rows if r.state == State.REPLACING and not r.taisly_id]
    return _stop(
        lead,
        rows,
        cancelled,
        None,
        lambda: _("the worker making it stopped, and its new time has passed meanwhile."),
    )


def _replace(lead_id: int) -> str:
    """The claimed edit of group ``lead_id``: cancel what is still at Taisly, then apply it."""
    Post.objects.filter(group_id=lead_id, state=State.EDITING).update(state=State.REPLACING)
    rows = groups.group_rows(Post(pk=lead_id))
    lead = rows[0]
    for row in rows:
        if row.state != State.REPLACING or not row.taisly_id:
            # Not part of the edit, or cancelled before a worker died (resumed by the check).
            continue
        why = _cancel_one(row)
        if why is not None:
            cancelled = [r for r in rows if r.state == State.REPLACING and not r.taisly_id]
            return _stop(lead, rows, cancelled, row, why)
        _mark_cancelled(row)
    workflow = workflow_of(lead.workspace)
    if rereview.review_pending(lead.edit_pending) and review_stages(workflow):
        rereview.back_to_review(lead, rows, workflow)
        return "back_to_review"
    # An ordinary edit, or review turned off meanwhile: made again at Taisly as edited.
    _apply(lead, rows)
    return "edited"


# --- the worker's steps ----------------------------------------------------------------------


def _cancel_one(row: Post) -> reasons.Sentence | None:
    """Cancel one Taisly post; None when it is cancelled (or no longer there), else why not."""
    try:
        with taisly_for(row.workspace) as client:
            client.cancel_scheduled(row.taisly_id)
        return None
    except TaislyActionError as exc:
        if exc.cause is None:
            # Refused before any request (a blocked or invalid key): it was not cancelled.
            return exc.sentence
        failure = exc
    # Refused, or no clear answer: history says whether the post is still there.
    present = still_at_taisly(row)
    if present is False:
        return None
    if present is None:
        return lambda: (
            _(
                "Taisly did not confirm the cancel (%(reason)s) and its history could not be read. "
                "Sync now to see whether the post is still scheduled."
            )
            % {"reason": failure.sentence().rstrip(".")}
        )
    if isinstance(failure.cause, TaislyRejected):
        return lambda: _("Taisly refused to cancel it (it may be going out now).")
    return failure.sentence


def _mark_cancelled(row: Post) -> None:
    """``row``'s Taisly post is cancelled: its id is kept as the one replaced (and ``row`` too)."""
    Post.objects.filter(pk=row.pk).update(replaced_taisly_id=row.taisly_id, taisly_id=None)
    row.replaced_taisly_id, row.taisly_id = row.taisly_id or "", None


def _apply(lead: Post, rows: list[Post]) -> None:
    """Every Taisly post is cancelled: the edit's rows are queued for the forward."""
    pending = lead.edit_pending or {}
    when = parse_datetime(pending.get("scheduled_at") or "")
    cover = float(pending.get("cover_second") or 0)
    parts = pending.get("groups") or []
    platforms = {p.pk: p for p in Platform.objects.filter(workspace=lead.workspace)}
    queued: list[int] = []
    stale_thumbnails: list[str] = []
    with transaction.atomic():
        for index, part in enumerate(parts):
            chosen = [platforms[pk] for pk in part["platforms"] if pk in platforms]
            fields = {
                "description": part["caption"],
                "scheduled_at": when,
                "due_at": when,
                "cover_second": cover,
                "state": State.QUEUED,
                "state_reason": "",
                "idempotency_token": uuid.uuid4(),
                "attempts": 0,
                "next_attempt_at": None,
                "progress_bytes": 0,
                "progress_total": 0,
                "sending_started_at": None,
                "sent_at": None,
                "send_candidates": [],
                "must_reconcile": False,
                "edit_pending": {},
            }
            if index < len(rows):
                row = rows[index]
                if row.thumbnail and row.cover_second != cover:
                    # A new cover time: the frame is made again once the edit has committed.
                    stale_thumbnails.append(row.thumbnail.name)
                    fields = {**fields, "thumbnail": ""}
                Post.objects.filter(pk=row.pk).update(**fields)
                PostResult.objects.filter(post=row).delete()
            else:
                row = Post.objects.create(
                    workspace=lead.workspace,
                    author=lead.author,
                    group=lead,
                    **groups.video_fields(lead),
                    **fields,
                )
            row.target_platforms.set(chosen)
            queued.append(row.pk)
        # Fewer captions than before: the rows left over were cancelled and are not made again.
        Post.objects.filter(pk__in=[r.pk for r in rows[len(parts) :]]).delete()
        # An earlier failure or edit's alerts belong to that incident: this edit starts anew.
        post_alerts_resolve(queued)
        audit_record(
            workspace=lead.workspace,
            actor=None,
            action=AuditEvent.Action.POST_EDITED,
            target=str(lead.code),
            details={
                "cancelled": [r.replaced_taisly_id for r in rows],
                "taisly_posts": len(parts),
                "scheduled_at": when.isoformat() if when else None,
            },
        )
        for pk in queued:
            transaction.on_commit(lambda pk=pk: queueing.enqueue_forward(pk))
            # A no-op for a post whose thumbnail is still right (thumbnail_make checks).
            transaction.on_commit(lambda pk=pk: thumbnails.thumbnail_enqueue(pk))
        for name in stale_thumbnails:
            transaction.on_commit(lambda name=name: Post.thumbnail.field.storage.delete(name))
    logger.info("Post %s: edit applied, %d Taisly posts to make", lead.code, len(queued))


def _stop(
    lead: Post,
    rows: list[Post],
    cancelled: list[Post],
    failed: Post | None,
    why: reasons.Sentence,
) -> str:
    """The edit cannot be made (``failed`` could not be cancelled, or a stalled edit's time has
    passed): the Taisly posts still there stay as they were; any already cancelled cannot be
    put back by themselves and wait for a person. Either way an ``edit_failed`` alert on the
    lead says what is scheduled now (the cancelled ones raise ``send_failed`` too)."""
    gone_ids = {c.pk for c in cancelled}
    kept = [r for r in rows if r.pk not in gone_ids and r.state == State.REPLACING]
    gone_networks = ", ".join(
        sorted({p.network for r in cancelled for p in r.target_platforms.all()})
    )
    kept_networks = ", ".join(sorted({p.network for r in kept for p in r.target_platforms.all()}))

    def kept_sentence() -> str:
        return _(EDIT_STOPPED_KEPT) % {"why": why().rstrip(".") + "."}

    def gone_sentence() -> str:
        return _(
            "This part of the post was cancelled at Taisly for an edit, but the edit stopped "
            "(%(why)s), so nothing is scheduled for %(networks)s now. Use “Try sending again” "
            "to schedule it again as it was."
        ) % {"why": why().rstrip("."), "networks": gone_networks}

    def alert_sentence() -> str:
        said = [_("The edit was not made (%(why)s).") % {"why": why().rstrip(".")}]
        if kept_networks:
            said.append(
                _("Still scheduled at Taisly as it was: %(networks)s.")
                % {"networks": kept_networks}
            )
        if gone_networks:
            said.append(
                _(
                    "Nothing is scheduled for %(networks)s now: use “Try sending again” on the "
                    "post to schedule it again as it was."
                )
                % {"networks": gone_networks}
            )
        return " ".join(said)

    with transaction.atomic():
        Post.objects.filter(pk__in=[r.pk for r in kept], state=State.REPLACING).update(
            state=State.SENT, state_reason=reasons.store(kept_sentence)
        )
        Post.objects.filter(pk__in=list(gone_ids), state=State.REPLACING).update(
            state=State.SEND_FAILED, state_reason=reasons.store(gone_sentence)
        )
        Post.objects.filter(pk=lead.pk).update(edit_pending={})
        audit_record(
            workspace=lead.workspace,
            actor=None,
            action=AuditEvent.Action.POST_EDIT_FAILED,
            target=str(lead.code),
            details={
                "not_cancelled": failed.taisly_id if failed else None,
                "cancelled": [r.replaced_taisly_id for r in cancelled],
                "reason": reasons.shown(reasons.store(why)),
            },
        )
        edit_failed_alert(lead, reasons.store(alert_sentence))
    if cancelled:
        outcomes.raise_alerts(lead)
        return "edit_failed_partly"
    return "edit_failed"


def _as_plan(rows: Sequence[Post]) -> list[list]:
    return [[row.description, sorted(p.pk for p in row.target_platforms.all())] for row in rows]
