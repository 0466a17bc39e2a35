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
    with pytest.raises(approvals.NotAReviewer, match="You edited this version"):
        approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice)
    assert Draft.objects.get(pk=draft.pk).review_state == ReviewState.IN_REVIEW
    assert calls == []
    outcome = approvals.decide(draft_id=draft.pk, decision="approve", by_user=dora)
    assert outcome.state == ReviewState.APPROVED and outcome.post is not None


def test_the_page_offers_no_buttons_to_who_edited_the_version(
    login, bob, alice, workspace, connected_ws, video_file, calls, no_queue
):
    """``Draft.may_decide`` follows the service: the editor who wrote the version under review
    sees why they cannot decide, not buttons that refuse them; the queue does not call it
    theirs."""
    from django.urls import reverse

    Workspace.objects.filter(pk=workspace.pk).update(approval_workflow="internal")
    workspace.approval_workflow = "internal"
    save_draft(login(bob), workspace, video_file(), description="Bob's words")
    draft = approvals.submit_for_review(draft=Draft.objects.latest("id"), actor=bob)
    kwargs = {"code": workspace.code, "draft_code": draft.code}
    before = login(alice).get(reverse("posting:draft", kwargs=kwargs)).content.decode()
    assert 'data-testid="review-approve"' in before
    fields = drafts.DraftFields(
        platforms=list(draft.target_platforms.all()),
        description="Alice rewrote it",
        captions=draft.captions,
        cover_second=draft.cover_second,
        scheduled_at=draft.scheduled_at,
    )
    drafts.draft_update(draft=draft, actor=alice, fields=fields)
    page = login(alice).get(reverse("posting:draft", kwargs=kwargs)).content.decode()
    assert 'data-testid="review-approve"' not in page
    assert "You edited this version: someone else reviews it." in page
    queue = login(alice).get(reverse("posting:reviews", kwargs={"code": workspace.code}))
    assert 'data-testid="review-row"' in queue.content.decode()
    assert 'data-testid="review-yours"' not in queue.content.decode()
    everywhere = login(alice).get(reverse("reviews_everywhere")).content.decode()
    assert 'data-testid="review-row"' not in everywhere
    assert not Draft.objects.get(pk=draft.pk).may_decide(
        Membership.objects.get(workspace=workspace, user=alice)
    )
