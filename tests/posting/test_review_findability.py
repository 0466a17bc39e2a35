"""A new member finds reviews (issue 18's review): the home page links the posts waiting for
their decision with a count, the workspace's Review link is there when review is on and counts
what waits for them; a post whose time passed while it waits says so before anyone approves;
a workflow nobody can complete is named when saved; the compose form says who reviews."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import Membership, Workspace
from posting.approvals import services as approvals
from posting.models import Draft
from tests.posting.sandbox_posts import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import save_draft

pytestmark = pytest.mark.django_db(transaction=True)


def url(name, workspace, **kwargs) -> str:
    return reverse(name, kwargs={"code": workspace.code, **kwargs})


def set_workflow(workspace, workflow) -> None:
    Workspace.objects.filter(pk=workspace.pk).update(approval_workflow=workflow)
    workspace.approval_workflow = workflow


@pytest.fixture
def submitted(login, bob, workspace, connected_ws, video_file, no_queue):
    """``make(n)``: n of bob's drafts in internal review."""

    def make(n=1, workflow="internal") -> list[Draft]:
        set_workflow(workspace, workflow)
        made = []
        for i in range(n):
            save_draft(login(bob), workspace, video_file(), description=f"Review me {i}")
            made.append(approvals.submit_for_review(draft=Draft.objects.latest("id"), actor=bob))
        return made

    return make


def test_home_links_the_reviews_waiting_for_me_with_their_count(login, submitted, alice, bob):
    submitted(2)
    home = login(alice).get(reverse("home")).content.decode()
    assert 'data-testid="home-reviews-everywhere"' in home
    assert 'data-testid="home-reviews-count">2</span>' in home
    # Bob wrote them: nothing waits for him, the link stays without a count.
    own = login(bob).get(reverse("home")).content.decode()
    assert 'data-testid="home-reviews-everywhere"' in own
    assert 'data-testid="home-reviews-count"' not in own


def test_the_review_link_shows_with_a_workflow_and_counts_what_waits_for_me(
    login, submitted, alice, bob, workspace, django_assert_num_queries
):
    overview = url("accounts:workspace", workspace)
    assert 'data-testid="nav-reviews"' not in login(alice).get(overview).content.decode()
    submitted(1)
    client = login(alice)
    assert 'data-testid="nav-reviews"' in client.get(overview).content.decode()
    badge = url("posting:review_badge", workspace)
    client.get(badge)
    # session, user, memberships, the count
    with django_assert_num_queries(4):
        first = client.get(badge).content.decode()
    assert 'data-testid="review-badge"' in first and ">1</span>" in first
    submitted(2)
    with django_assert_num_queries(4):
        assert ">3</span>" in client.get(badge).content.decode()
    assert 'data-testid="review-badge"' not in login(bob).get(badge).content.decode()


def test_a_post_whose_time_passed_while_it_waits_warns_before_approving(
    login, submitted, alice, workspace
):
    (draft,) = submitted(1)
    client = login(alice)
    queue = url("posting:reviews", workspace)
    page = url("posting:draft", workspace, draft_code=draft.code)
    assert 'data-testid="review-time-passed"' not in client.get(queue).content.decode()
    Draft.objects.filter(pk=draft.pk).update(scheduled_at=timezone.now() - timedelta(hours=2))
    for target in (queue, page):
        text = client.get(target).content.decode()
        assert 'data-testid="review-time-passed"' in text, target
        assert "has passed: approving will hold it" in text
    assert "Approving schedules it for its planned time." not in client.get(page).content.decode()


def test_review_alert_emails_say_what_happened_in_the_recipients_language(
    submitted, alice, bob, workspace
):
    first, second = submitted(2)
    mail.outbox.clear()
    approvals.decide(draft_id=first.pk, decision="changes", comment="Shorter", by_user=alice)
    assert [m.subject for m in mail.outbox] == [
        f"{workspace.name}: changes were requested on your post"
    ]
    html = mail.outbox[0].alternatives[0][0]
    assert '<html lang="en">' in html
    type(bob).objects.filter(pk=bob.pk).update(language="id")
    mail.outbox.clear()
    approvals.decide(draft_id=second.pk, decision="changes", comment="Lagi", by_user=alice)
    html = mail.outbox[0].alternatives[0][0]
    assert '<html lang="id">' in html
    assert "changes were requested" not in mail.outbox[0].subject


def test_a_workflow_nobody_can_complete_is_named_when_saved_and_on_the_settings_page(
    login, alice, workspace
):
    client = login(alice)
    settings_page = url("accounts:workspace_settings", workspace)
    target = url("posting:approval_workflow", workspace)
    # Alice alone writes here: internal review has nobody to approve her posts.
    saved = client.post(target, {"workflow": "internal"}, follow=True).content.decode()
    assert "this workspace has only one" in saved
    # No member holds the client reviewer right: the links are named, it is still saved.
    saved = client.post(target, {"workflow": "client"}, follow=True).content.decode()
    assert "No member has the client reviewer right yet" in saved and "review link" in saved
    workspace.refresh_from_db()
    assert workspace.approval_workflow == "client"
    assert 'data-testid="approval-gap"' in client.get(settings_page).content.decode()


def test_a_workflow_that_can_complete_says_nothing_and_compose_names_the_reviewers(
    login, alice, bob, vera, workspace, connected_ws
):
    Membership.objects.filter(user=vera).update(can_approve=True)
    set_workflow(workspace, "internal_client")
    assert (
        'data-testid="approval-gap"'
        not in login(alice).get(url("accounts:workspace_settings", workspace)).content.decode()
    )
    compose = login(bob).get(url("posting:compose", workspace)).content.decode()
    assert "reviewed by the team, then the client, before they go out" in compose


def test_in_indonesian_a_viewer_is_not_called_a_reviewer():
    with translation.override("id"):
        viewer = str(Membership.Role.VIEWER.label)
        reviewer = translation.gettext("Client: a client reviewer approves")
    assert viewer == "Pelihat"
    assert "eninjau" not in viewer.lower() and "peninjau" in reviewer
