"""A link holder's decision on a draft: E's ``posting.approvals.services.decide`` with the link
(which checks, on the locked draft, that the link is usable, covers the draft and that the draft
waits at the client stage), and the sentence the reviewer reads after it."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext as _

from posting.approvals import services as approvals
from posting.models import Draft, ReviewLink, ReviewStage, ReviewState
from posting.sending.errors import PostActionError

APPROVE = "approve"
CHANGES = "changes"


def decidable(draft: Draft) -> bool:
    """Whether the page offers the buttons: the draft waits for the client."""
    return draft.review_state == ReviewState.IN_REVIEW and draft.review_stage == ReviewStage.CLIENT


def decide_by_link(
    *,
    link: ReviewLink,
    draft: Draft,
    decision: str,
    comment: str,
    request: HttpRequest,
    seen: str | None = None,
) -> str:
    if decision not in (APPROVE, CHANGES):
        raise PostActionError(_("Choose Approve or Request changes."))
    approvals.decide(
        draft_id=draft.pk,
        decision=decision,
        comment=comment,
        by_link=link,
        seen=seen,
        request=request,
    )
    if decision == APPROVE:
        return _("Thank you: you approved this post.")
    return _("Thank you: the team was told what to change.")
