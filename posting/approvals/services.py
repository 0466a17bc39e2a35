"""Approvals: a post in review is a draft (``posting.models.Draft``) with a review state; it
never reaches Taisly (no request spent, its video kept) until the last stage approves it.

    submit_for_review ──> in_review (the workflow's first stage)
    decide("changes") ──> changes_requested ──(the author edits, submits again)──> in_review
    decide("approve") ──> in_review at the next stage (internal, then client), or, at the last:
        ├─ its time has passed ──> held: nothing sent; the author picks a new time and sends it
        └─ otherwise ──────────> approved: sent now or scheduled, exactly once
            (``posting.sending.drafts.send_locked`` under the draft's row lock: a double click,
            two approvers at once or a redelivered request find it approved and send nothing)
    an edit in review (or of a held post) that changes what reviewers saw ──> in_review again,
        from the first stage (``posting.sending.drafts``), as a new ``DraftVersion``
    the workflow turned off ──> every waiting post back to a plain draft its author may send;
        the author is told (``workflow_set``)
    a reviewer removed, or their right taken away, while a post waits: their decision is
        refused (authority is read under lock when they decide); a stage they approved stays.

Who decides: never the author; at the internal stage an owner or editor; at the client stage a
member with the reviewer right (``Membership.can_approve``) or a review link
(``posting.approvals`` of the review links: any object with ``covers(draft) -> bool``,
``is_usable() -> bool`` and ``address``; if it has ``locked()`` it is called first, inside the
transaction, for the link re-read under its row lock).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.access import RoleRequired, lock_actor_role, lock_writer
from accounts.audit import audit_record
from accounts.models import AuditEvent, Membership, User, Workspace
from posting.alerts.watchers import (
    request_review,
    reviewers_of,
    submitted,
    tell_watchers,
    watch_add,
)
from posting.models import Alert, Draft, DraftVersion, Post, ReviewStage, ReviewState, review_stages
from posting.sending.drafts import send_locked, workflow_of
from posting.sending.errors import PostActionError

logger = logging.getLogger(__name__)

# ``client_stage_reached`` (``posting.alerts.watchers``) is sent wherever a post reaches the
# client's stage: ``request_review`` sends it.

#: The longest comment a decision takes (the form's field says the same).
COMMENT_MAX = 2000

Decision = Literal["approve", "changes"]

#: A review link whose sender was removed from the team (or is no longer an owner or editor).
SENDER_GONE = gettext_lazy(
    "Whoever sent you this review link is no longer on the team, so it cannot be used. Ask "
    "the team for a new link."
)


class ReviewError(PostActionError):
    """The decision or submission cannot be made; ``message`` says why, in words."""


class NotAReviewer(RoleRequired):
    """``by_user`` may not decide on this post (now, under lock): a 403 with its reason."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message
        self.args = (message,)


@dataclass(frozen=True)
class Outcome:
    """What a decision did: the draft's state and stage after it, the post when it was sent,
    and ``repeated`` when it had been made already (a double click: nothing more was done)."""

    draft: Draft
    state: str
    stage: str
    post: Post | None = None
    repeated: bool = False

    @property
    def message(self) -> str:
        if self.state == ReviewState.APPROVED:
            if self.draft.scheduled_at:
                return _("Approved. The post is scheduled for its chosen time.")
            return _("Approved. The post is on its way to Taisly.")
        if self.state == ReviewState.HELD:
            return _(
                "Approved, but its planned time has passed: it was not sent. Its author is "
                "asked to choose a new time."
            )
        if self.state == ReviewState.CHANGES_REQUESTED:
            return _("Changes requested. Its author is told.")
        if self.state == ReviewState.IN_REVIEW and self.stage == ReviewStage.CLIENT:
            return _("Approved internally. It now waits for the client's approval.")
        return _("Saved.")


# --- submitting ------------------------------------------------------------------------------


def submit_for_review(*, draft: Draft, actor: User, request: HttpRequest | None = None) -> Draft:
    """Put the draft in review at its workflow's first stage, as a new version (owners and
    editors; refused without a workflow). Submitting one in review again changes nothing."""
    with transaction.atomic():
        lock_writer(workspace=draft.workspace, actor=actor)
        locked = _lock(draft.pk)
        if locked.sent_at is not None:
            raise ReviewError(_("This draft was sent or deleted already."))
        stages = review_stages(workflow_of(draft.workspace))
        if not stages:
            raise ReviewError(
                _("This workspace has no review: post or schedule the draft as it is.")
            )
        if locked.review_state == ReviewState.IN_REVIEW:
            return locked
        if not locked.video:
            raise ReviewError(_("This draft has no video. Add one, then submit it for review."))
        platforms = list(locked.target_platforms.all())
        if not platforms:
            raise ReviewError(_("Choose at least one account to post to."))
        if locked.scheduled_at is not None and locked.scheduled_at <= timezone.now():
            raise ReviewError(
                _("The planned time has passed. Choose a later time, or post now, then submit it.")
            )
        DraftVersion.record(locked, actor, platforms)
        _set(
            locked,
            review_state=ReviewState.IN_REVIEW,
            review_stage=stages[0],
            submitted_at=timezone.now(),
            held_reason="",
        )
        audit_record(
            workspace=draft.workspace,
            actor=actor,
            action=AuditEvent.Action.REVIEW_SUBMITTED,
            target=str(locked.code),
            details={"stage": stages[0], "description": locked.description[:100]},
            request=request,
        )
        # Its author and whoever submits it hear of what happens to it; its first stage's
        # reviewers are told it waits for them.
        submitted(locked, actor_id=actor.pk)
    return locked


# --- deciding --------------------------------------------------------------------------------


def decide(
    *,
    draft_id: int,
    decision: Decision,
    comment: str = "",
    by_user: User | None = None,
    by_link: Any = None,
    seen: str | None = None,
    request: HttpRequest | None = None,
) -> Outcome:
    """Approve the draft, or request changes, as ``by_user`` (a member) or ``by_link`` (a
    review link), exactly one of them. Authority is decided here, under the draft's row lock
    (and the member's). The last approval sends it, once. Raises ``NotAReviewer`` (a 403) for a
    member who may not decide, ``ReviewError`` for anything else refused, with its reason.
    ``seen``: the ``Draft.review_seen`` the reviewer's page showed (its round, and its stage);
    when given and the post was submitted again since (edited in review), or moved to another
    stage, the decision is refused: it was not seen. Locks are taken in one order everywhere:
    the member's row (for a link, its sender's), then the draft's, then the link's."""
    if (by_user is None) == (by_link is None):
        raise ValueError("decide takes exactly one of by_user and by_link")
    if decision not in ("approve", "changes"):
        raise ValueError(f"unknown decision {decision!r}")
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise ReviewError(
            _("The comment is too long: at most %(limit)d characters.") % {"limit": COMMENT_MAX}
        )
    if decision == "changes" and not comment:
        raise ReviewError(_("Say what should change: the comment is needed to request changes."))

    seen_round, _sep, seen_stage = (seen or "").partition(":")
    with transaction.atomic():
        membership = sender_on_team = None
        if by_user is not None:
            membership = _lock_member(draft_id, by_user)
        else:
            sender_on_team = lock_link_sender(by_link)
        locked = _lock(draft_id, missing=_("This post is no longer waiting for review."))
        workspace = locked.workspace
        stages = review_stages(workspace.approval_workflow)
        repeated = _repeated(locked, decision, by_user, comment)
        if repeated is not None:
            return repeated
        if locked.review_state != ReviewState.IN_REVIEW or locked.sent_at is not None:
            raise ReviewError(_not_waiting(locked))
        if locked.review_stage not in stages:
            raise ReviewError(_("The review of this post changed meanwhile. Reload the page."))
        if seen and seen_round != locked.review_round:
            raise ReviewError(
                _("The post was edited after you opened it. Look at it again, then decide.")
            )
        if seen_stage and seen_stage != locked.review_stage:
            raise ReviewError(
                _(
                    "The post moved to another review stage after you opened it. Look at it "
                    "again, then decide."
                )
            )
        address = ""
        if by_user is not None:
            _check_member(locked, membership)
        else:
            by_link = _check_link(locked, by_link)
            if not sender_on_team:
                raise ReviewError(SENDER_GONE)
            address = str(getattr(by_link, "address", ""))[:254]
        actor = by_user
        actor_id = by_user.pk if by_user is not None else None
        watch_add(locked, [actor_id])
        base = {"draft": str(locked.code), "stage": locked.review_stage}
        if address:
            base["address"] = address
        now = timezone.now()
        decided = {
            "decided_by": by_user,
            "decided_by_address": address,
            "decided_at": now,
            "decision_comment": comment,
            "decided_stage": locked.review_stage,
        }

        if decision == "changes":
            _set(locked, review_state=ReviewState.CHANGES_REQUESTED, **decided)
            _audit(
                locked,
                actor,
                AuditEvent.Action.REVIEW_CHANGES_REQUESTED,
                request,
                {**base, "comment": comment[:200]},
            )
            tell_watchers(locked, Alert.Kind.CHANGES_REQUESTED, comment, actor_id=actor_id)
            return Outcome(draft=locked, state=locked.review_state, stage=locked.review_stage)

        stage_index = stages.index(locked.review_stage)
        final = stage_index == len(stages) - 1
        _audit(
            locked,
            actor,
            AuditEvent.Action.REVIEW_APPROVED,
            request,
            {**base, "final": final, **({"comment": comment[:200]} if comment else {})},
        )
        if not final:
            _set(locked, review_stage=stages[stage_index + 1], **decided)
            # The next stage's reviewers are told it waits for them (a watcher among them
            # hears that alone); the other watchers that it was approved.
            reviewers = reviewers_of(locked, actor_id=actor_id)
            told = tell_watchers(
                locked, Alert.Kind.APPROVED, comment, actor_id=actor_id, leave_out=reviewers
            )
            request_review(locked, actor_id=actor_id, reviewers=reviewers, told=told)
            return Outcome(draft=locked, state=locked.review_state, stage=locked.review_stage)

        if locked.scheduled_at is not None and locked.scheduled_at <= now:
            # Not sent late: the author chooses a new time (the approval stands for it).
            reason = _("Approved after its planned time had passed, so it was not sent.")
            _set(locked, review_state=ReviewState.HELD, held_reason=reason, **decided)
            _audit(
                locked,
                actor,
                AuditEvent.Action.REVIEW_HELD,
                request,
                {**base, "scheduled_at": locked.scheduled_at.isoformat()},
            )
            tell_watchers(locked, Alert.Kind.HELD, reason, actor_id=actor_id)
            return Outcome(draft=locked, state=locked.review_state, stage=locked.review_stage)

        _set(locked, review_state=ReviewState.APPROVED, **decided)
        post = send_locked(
            locked=locked,
            workspace=workspace,
            actor=actor,
            author=locked.author or actor,
            request=request,
            details={"approved": True, **({"address": address} if address else {})},
        )
        tell_watchers(locked, Alert.Kind.APPROVED, comment, actor_id=actor_id, post=post)
        return Outcome(locked, locked.review_state, locked.review_stage, post=post)


def _repeated(locked: Draft, decision: str, by_user: User | None, comment: str) -> Outcome | None:
    """The same decision made again (a double click, a redelivered request, the other of two
    approvers): the outcome of the first, with nothing done. A request for changes with other
    words is not a repeat: it is refused with its reason, never swallowed as done."""
    post = Post.objects.filter(pk=locked.sent_post_id).first() if locked.sent_post_id else None
    if decision == "approve" and locked.review_state in (ReviewState.APPROVED, ReviewState.HELD):
        return Outcome(locked, locked.review_state, locked.review_stage, post, repeated=True)
    if (
        decision == "changes"
        and locked.review_state == ReviewState.CHANGES_REQUESTED
        and comment == locked.decision_comment
    ):
        return Outcome(locked, locked.review_state, locked.review_stage, repeated=True)
    if (
        decision == "approve"
        and by_user is not None
        and locked.review_state == ReviewState.IN_REVIEW
        and locked.review_stage == ReviewStage.CLIENT
        and locked.decided_by_id == by_user.pk
        and locked.decided_stage == ReviewStage.INTERNAL
        and locked.decided_at is not None
        and locked.submitted_at is not None
        and locked.decided_at >= locked.submitted_at
    ):
        # This member approved the internal stage of this round a moment ago: that click,
        # again (a decision of an earlier round, or at the client stage, is not).
        return Outcome(locked, locked.review_state, locked.review_stage, repeated=True)
    return None


def _lock_member(draft_id: int, user: User) -> Membership:
    """The member's row, locked before the draft's (the order every writer takes)."""
    workspace = Workspace.objects.filter(drafts__pk=draft_id).first()
    if workspace is None:
        raise ReviewError(_("This post is no longer waiting for review."))
    try:
        return lock_actor_role(
            workspace=workspace,
            actor=user,
            roles=tuple(Membership.Role.values),
        )
    except RoleRequired:
        raise NotAReviewer(_("You are not a member of this workspace any more.")) from None


def lock_link_sender(link: Any) -> bool:
    """Lock the membership of whoever sent ``link`` (before the draft's row: the order every
    writer takes) and say whether they are still an owner or editor: a link of someone removed
    or made a viewer decides and comments no more."""
    sender_id = getattr(link, "created_by_id", None)
    if sender_id is None:
        return False
    membership = (
        Membership.objects.select_for_update()
        .filter(workspace_id=link.workspace_id, user_id=sender_id)
        .first()
    )
    return membership is not None and membership.can_write


def _check_member(locked: Draft, membership: Membership) -> Membership:
    # Four eyes: its author, and whoever wrote any version of it (an editor who rewrote it in
    # review, or while changes were asked for), may not approve their own words.
    if membership.user_id == locked.version_author_id():
        raise NotAReviewer(_("You edited this version: someone else reviews it."))
    if membership.user_id == locked.author_id or membership.user_id in _version_writers(locked):
        raise NotAReviewer(_("You wrote this post: someone else reviews it."))
    if not locked.may_decide(membership):
        if locked.review_stage == ReviewStage.INTERNAL:
            raise NotAReviewer(_("Only an owner or editor other than its author approves it now."))
        raise NotAReviewer(_("Only a client reviewer approves it now. Ask an owner for the right."))
    return membership


def _check_link(locked: Draft, link: Any) -> Any:
    relock = getattr(link, "locked", None)
    if callable(relock):
        link = relock()
    if link is None or not link.is_usable():
        raise ReviewError(_("This review link has expired or was revoked."))
    if not link.covers(locked):
        raise ReviewError(_("This review link is not for this post."))
    if locked.review_stage != ReviewStage.CLIENT:
        raise ReviewError(_("This post is not waiting for the client's review."))
    # Four eyes: a link sent to its author's (or a version's writer's) own address is theirs.
    writers = [locked.author_id, *_version_writers(locked)]
    if User.objects.filter(pk__in=writers, email__iexact=str(link.address)).exists():
        raise ReviewError(
            _("This link was sent to someone who wrote this post: someone else approves it.")
        )
    return link


def _version_writers(draft: Draft) -> set[int]:
    return set(
        DraftVersion.objects.filter(draft=draft, author__isnull=False).values_list(
            "author_id", flat=True
        )
    )


def _not_waiting(draft: Draft) -> str:
    if draft.sent_at is not None:
        return _("This post was sent already.")
    if draft.review_state == ReviewState.CHANGES_REQUESTED:
        return _("Changes were requested already: it waits for its author to edit it.")
    return _("This post is not waiting for review.")


# --- the workflow ----------------------------------------------------------------------------


def workflow_set(
    *, workspace: Workspace, actor: User, workflow: str, request: HttpRequest | None = None
) -> int:
    """Set the workspace's approval workflow (owners; audited). Posts waiting for review:
    turned off, each goes back to a plain draft its author may send, and the author is told;
    changed, one at a stage the new workflow has not starts again at its first stage. Returns
    how many waiting posts were moved."""
    if workflow not in Workspace.ApprovalWorkflow.values:
        raise ReviewError(_("Choose one of the workflows offered."))
    moved = 0
    with transaction.atomic():
        lock_actor_role(workspace=workspace, actor=actor)
        current = Workspace.objects.select_for_update().get(pk=workspace.pk)
        before = current.approval_workflow
        if before == workflow:
            return 0
        Workspace.objects.filter(pk=workspace.pk).update(approval_workflow=workflow)
        workspace.approval_workflow = workflow
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditEvent.Action.WORKSPACE_APPROVAL_WORKFLOW,
            details={"from": before, "to": workflow},
            request=request,
        )
        stages = review_stages(workflow)
        told = None  # one email per person for the whole change, however many posts it moves
        waiting = Draft.objects.select_for_update().filter(
            workspace=workspace,
            sent_at__isnull=True,
            review_state__in=[
                ReviewState.IN_REVIEW,
                ReviewState.CHANGES_REQUESTED,
                ReviewState.HELD,
            ],
        )
        for draft in waiting:
            draft.workspace = workspace
            if not stages:
                _set(draft, review_state="", review_stage="", held_reason="")
                _audit(
                    draft,
                    actor,
                    AuditEvent.Action.REVIEW_RETURNED,
                    request,
                    {"draft": str(draft.code)},
                )
                told = tell_watchers(
                    draft,
                    Alert.Kind.RETURNED,
                    _(
                        "Review was turned off in this workspace: the post is a draft again, "
                        "and you may post or schedule it yourself."
                    ),
                    actor_id=actor.pk,
                    told=told,
                )
                moved += 1
            elif draft.review_state == ReviewState.IN_REVIEW and draft.review_stage not in stages:
                _set(draft, review_stage=stages[0])
                _audit(
                    draft,
                    actor,
                    AuditEvent.Action.REVIEW_RESET,
                    request,
                    {"draft": str(draft.code), "stage": stages[0]},
                )
                moved += 1
    return moved


# --- helpers ---------------------------------------------------------------------------------


def _lock(draft_id: int, *, missing: str | None = None) -> Draft:
    """The draft's row, locked, with its workspace as stored now."""
    locked = (
        Draft.objects.select_for_update(of=("self",))
        .select_related("workspace")
        .filter(pk=draft_id)
        .first()
    )
    if locked is None:
        raise ReviewError(missing or _("This draft was sent or deleted already."))
    return locked


def _set(draft: Draft, **fields) -> None:
    for name, value in fields.items():
        setattr(draft, name, value)
    Draft.objects.filter(pk=draft.pk).update(updated_at=timezone.now(), **fields)


def _audit(draft: Draft, actor, action: str, request, details: dict) -> None:
    audit_record(
        workspace=draft.workspace,
        actor=actor,
        action=action,
        target=str(draft.code),
        details=details,
        request=request,
    )
