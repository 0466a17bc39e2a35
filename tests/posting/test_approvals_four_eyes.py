"""Review's four eyes (issue 18's review): a member who rewrote a post in review is its author
for that version, so they cannot approve it themselves; someone else still can."""

from __future__ import annotations

import pytest

from accounts.models import Membership, Workspace
from posting.approvals import services as approvals
from posting.models import Draft, ReviewState
from posting.sending import drafts
from tests.personas import verified_user
from tests.posting.sandbox_posts import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import save_draft

pytestmark = pytest.mark.django_db(transaction=True)


def test_who_rewrote_a_post_in_review_does_not_approve_it(
    login, bob, alice, workspace, connected_ws, video_file, calls, no_queue
):
    dora = verified_user("dora@example.test", "Dora")
    Membership.objects.create(workspace=workspace, user=dora, role=Membership.Role.EDITOR)
    Workspace.objects.filter(pk=workspace.pk).update(approval_workflow="internal")
    workspace.approval_workflow = "internal"
    save_draft(login(bob), workspace, video_file(), description="Bob's words")
    draft = approvals.submit_for_review(draft=Draft.objects.latest("id"), actor=bob)
    fields = drafts.DraftFields(
        platforms=list(draft.target_platforms.all()),
        description="Alice's own words, unseen by anyone else",
        captions=draft.captions,
        cover_second=draft.cover_second,
        scheduled_at=draft.scheduled_at,
    )
    drafts.draft_update(draft=draft, actor=alice, fields=fields)
    with pytest.raises(approvals.NotAReviewer, match="You wrote"):
        approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice)
    assert Draft.objects.get(pk=draft.pk).review_state == ReviewState.IN_REVIEW
    assert calls == []
    outcome = approvals.decide(draft_id=draft.pk, decision="approve", by_user=dora)
    assert outcome.state == ReviewState.APPROVED and outcome.post is not None
