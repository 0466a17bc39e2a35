"""Approvals' pages for members: the workflow on the settings page, the reviewer right on the
members page, "Submit for review" on the compose form and the draft page, the decision form,
and the review queues (a fixed number of queries whatever the number of posts)."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from django.urls import reverse

from accounts.models import AuditEvent, Membership, Workspace
from posting.approvals import services as approvals
from posting.models import Draft, Post, ReviewStage, ReviewState
from tests.posting.sandbox_posts import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_data, save_draft

pytestmark = pytest.mark.django_db(transaction=True)

Action = AuditEvent.Action


def url(name, workspace, **kwargs) -> str:
    return reverse(name, kwargs={"code": workspace.code, **kwargs})


def draft_url(draft, name="posting:draft") -> str:
    return url(name, draft.workspace, draft_code=draft.code)


def set_workflow(workspace, workflow) -> None:
    Workspace.objects.filter(pk=workspace.pk).update(approval_workflow=workflow)


@pytest.fixture
def submitted(login, bob, workspace, connected_ws, video_file, no_queue):
    """``make(n)``: n of bob's drafts in internal review."""

    def make(n=1, workflow="internal") -> list[Draft]:
        set_workflow(workspace, workflow)
        made = []
        for i in range(n):
            save_draft(login(bob), workspace, video_file(), description=f"Review me {i}")
            draft = Draft.objects.latest("id")
            made.append(approvals.submit_for_review(draft=draft, actor=bob))
        return made

    return make


def test_an_owner_sets_the_workflow_on_the_settings_page(login, alice, bob, workspace):
    page = login(alice).get(url("accounts:workspace_settings", workspace))
    assert 'data-testid="approval-workflow"' in page.content.decode()
    target = url("posting:approval_workflow", workspace)
    response = login(alice).post(target, {"workflow": "internal_client"})
    assert response.status_code == 302
    workspace.refresh_from_db()
    assert workspace.approval_workflow == "internal_client"
    event = AuditEvent.objects.get(action=Action.WORKSPACE_APPROVAL_WORKFLOW)
    assert event.details == {"from": "none", "to": "internal_client"}
    # A made-up value changes nothing and says so; an editor may not.
    bad = login(alice).post(target, {"workflow": "everyone"}, follow=True)
    assert "Choose one of the workflows offered." in bad.content.decode()
    assert login(bob).post(target, {"workflow": "none"}).status_code == 403
    workspace.refresh_from_db()
    assert workspace.approval_workflow == "internal_client"


def test_an_owner_gives_the_reviewer_right_on_the_members_page(login, alice, bob, vera, workspace):
    membership = Membership.objects.get(user=vera, workspace=workspace)
    target = url("accounts:member_reviewer", workspace, member_code=membership.code)
    page = login(alice).get(url("accounts:members", workspace))
    assert target in page.content.decode()
    assert login(alice).post(target, {"can_approve": "on"}).status_code == 302
    membership.refresh_from_db()
    assert membership.can_approve
    assert AuditEvent.objects.get(action=Action.MEMBER_REVIEWER_CHANGED).details == {
        "can_approve": True
    }
    assert login(bob).post(target, {}).status_code == 403
    login(alice).post(target, {})
    membership.refresh_from_db()
    assert not membership.can_approve


def test_compose_submits_for_review_and_nothing_goes_to_taisly(
    login, bob, workspace, connected_ws, video_file, calls, no_queue
):
    set_workflow(workspace, "internal")
    page = login(bob).get(url("posting:compose", workspace)).content.decode()
    assert url("posting:review_new", workspace) in page and "Submit for review" in page
    with open(video_file(), "rb") as fh:
        response = login(bob).post(
            url("posting:review_new", workspace), {**compose_data(workspace), "video": fh}
        )
    draft = Draft.objects.get()
    assert response.status_code == 302 and response["Location"] == draft_url(draft)
    assert draft.review_state == ReviewState.IN_REVIEW
    assert draft.review_stage == ReviewStage.INTERNAL
    assert calls == [] and no_queue == [] and not Post.objects.exists()
    # A bad form loses nothing and says what is wrong.
    bad = login(bob).post(url("posting:review_new", workspace), compose_data(workspace))
    assert bad.status_code == 422 and Draft.objects.count() == 1


def test_the_draft_page_submits_shows_the_review_and_decides(
    login, alice, bob, workspace, connected_ws, video_file, no_queue
):
    set_workflow(workspace, "internal")
    save_draft(login(bob), workspace, video_file(), description="Plain draft")
    draft = Draft.objects.get()
    page = login(bob).get(draft_url(draft)).content.decode()
    assert 'data-testid="draft-submit"' in page and 'data-testid="draft-send"' not in page
    response = login(bob).post(
        draft_url(draft, "posting:draft_submit"), compose_data(workspace, description="Words")
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.review_state == ReviewState.IN_REVIEW and draft.description == "Words"
    author_page = login(bob).get(draft_url(draft)).content.decode()
    assert 'data-testid="review-box"' in author_page and "In review" in author_page
    assert 'data-testid="review-decide"' not in author_page  # never the author's to decide
    owner_page = login(alice).get(draft_url(draft)).content.decode()
    assert (
        'data-testid="review-decide"' in owner_page and 'data-testid="review-version"' in owner_page
    )
    decide = draft_url(draft, "posting:draft_decide")
    refused = login(alice).post(decide, {"decision": "changes", "comment": ""}, follow=True)
    assert "Say what should change" in refused.content.decode()
    login(alice).post(decide, {"decision": "changes", "comment": "Shorter, please"})
    page = login(bob).get(draft_url(draft)).content.decode()
    assert "Shorter, please" in page and "Save and submit for review again" in page
    login(bob).post(draft_url(draft, "posting:draft_submit"), compose_data(workspace))
    response = login(alice).post(decide, {"decision": "approve"})
    post = Post.objects.get()
    assert response.status_code == 302 and str(post.code) in response["Location"]
    # The author is told, on the alerts page.
    alerts = login(bob).get(url("posting:alerts", workspace)).content.decode()
    assert 'data-kind="approved"' in alerts


def test_who_may_post_a_decision(login, submitted, bob, vera, charlie):
    [draft] = submitted()
    decide = draft_url(draft, "posting:draft_decide")
    assert login(bob).post(decide, {"decision": "approve"}).status_code == 403
    assert login(vera).post(decide, {"decision": "approve"}).status_code == 403
    assert login(charlie).post(decide, {"decision": "approve"}).status_code == 404
    assert login(bob).get(decide).status_code == 405
    assert not Post.objects.exists()


def test_the_workspace_queue_runs_a_fixed_number_of_queries(
    login, submitted, alice, workspace, django_assert_num_queries
):
    submitted(2)
    client = login(alice)
    target = url("posting:reviews", workspace)
    # session, user, memberships, the count, the drafts with their people, their accounts
    with django_assert_num_queries(6):
        page = client.get(target)
    assert page.content.decode().count('data-testid="review-row"') == 2
    assert page.content.decode().count('data-testid="review-yours"') == 2
    submitted(2)
    with django_assert_num_queries(6):
        assert client.get(target).content.decode().count('data-testid="review-row"') == 4


def test_the_queue_across_workspaces(
    login, submitted, alice, bob, charlie, workspace, django_assert_num_queries
):
    submitted(2)
    client = login(alice)
    target = reverse("reviews_everywhere")
    # session, user, memberships, the count, the drafts, their accounts
    with django_assert_num_queries(6):
        page = client.get(target).content.decode()
    assert page.count('data-testid="review-row"') == 2 and "Acme" in page
    # Bob's own posts are not his to review; an outsider sees none of them.
    assert 'data-testid="review-row"' not in login(bob).get(target).content.decode()
    assert 'data-testid="review-row"' not in login(charlie).get(target).content.decode()
    # A workspace that asks for two-factor sign-in alice has not set up is left out.
    Workspace.objects.filter(pk=workspace.pk).update(require_2fa=True)
    assert not Authenticator.objects.filter(user=alice).exists()
    assert 'data-testid="review-row"' not in client.get(target).content.decode()
