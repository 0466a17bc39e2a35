"""A link holder's decision on a draft: E's ``posting.approvals.services.decide`` with the link
(which checks, on the locked draft, that the link is usable, covers the draft and that the draft
waits at the client stage), and the sentence the reviewer reads after it."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from posting.approvals import services as approvals
from posting.models import Draft, ReviewLink
from posting.reviewlinks import links
from posting.sending.errors import PostActionError

APPROVE = "approve"
CHANGES = "changes"


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
    with transaction.atomic():
        # The service re-reads the link under its row lock; the decision is kept on it in the
        # same transaction, so the link says what its holder decided once the review is over.
        approvals.decide(
            draft_id=draft.pk,
            decision=decision,
            comment=comment,
            by_link=link,
            seen=seen,
            request=request,
        )
        links.record_decision(link=link, draft=draft, decision=decision)
    if decision == APPROVE:
        return _("Thank you: you approved this post.")
    return _("Thank you: the team was told what to change.")
