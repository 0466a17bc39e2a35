"""The workspace overview's posting block: what needs me?"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from posting.models import Post, PostResult
from tests.posting.factories import bulk_posts, make_platforms, make_post

pytestmark = pytest.mark.django_db


def url(workspace) -> str:
    return reverse("accounts:workspace", kwargs={"code": workspace.code})


@pytest.fixture
def platforms(workspace):
    return make_platforms(workspace)


def test_it_shows_last_posts_unseen_failures_and_what_is_next(workspace, platforms, alice, login):
    now = timezone.now()
    make_post(
        workspace,
        platforms,
        {"TikTok": "FAILED:SANDBOX_FORCED_FAILURE", "X": "SUCCESS"},
        description="Half there",
    )
    seen = make_post(workspace, platforms, {"YouTube": "FAILED:VIDEO_TOO_LONG"}, description="Seen")
    PostResult.objects.filter(post=seen).update(seen_at=now)
    make_post(
        workspace,
        platforms,
        {"Instagram": "PENDING"},
        description="Tomorrow's",
        scheduled_at=now + timedelta(days=1),
        due_at=now + timedelta(days=1),
        taisly_id="t1",
    )
    make_post(
        workspace,
        platforms,
        description="Cancelled one",
        state=Post.State.CANCELLED,
        due_at=now + timedelta(days=2),
    )

    html = login(alice).get(url(workspace)).content.decode()

    unseen = html.split('data-testid="unseen-failures"')[1].split('data-testid="upcoming"')[0]
    assert "Half there" in unseen and "SANDBOX_FORCED_FAILURE" in unseen
    assert "VIDEO_TOO_LONG" not in unseen
    upcoming = html.split('data-testid="upcoming"')[1].split('data-testid="latest-posts"')[0]
    assert "Tomorrow&#x27;s" in upcoming and "Cancelled one" not in upcoming
    latest = html.split('data-testid="latest-posts"')[1]
    assert "1 of 2 posted" in latest


def test_the_new_post_button_is_for_editors_only(workspace, alice, vera, login):
    try:
        compose = reverse("posting:compose", kwargs={"code": workspace.code})
    except NoReverseMatch:
        compose = None  # the compose page is built on another branch

    owner_html = login(alice).get(url(workspace)).content.decode()
    viewer_html = login(vera).get(url(workspace)).content.decode()

    assert 'data-testid="new-post"' not in viewer_html
    assert ('data-testid="new-post"' in owner_html) is (compose is not None)


def test_an_empty_workspace_says_so(workspace, alice, login):
    html = login(alice).get(url(workspace)).content.decode()

    assert "Nothing failed that nobody has seen." in html
    assert "Nothing is scheduled." in html


@pytest.mark.parametrize("count", [10, 2_000])
def test_the_block_runs_a_fixed_number_of_queries(
    workspace, platforms, alice, login, django_assert_num_queries, count
):
    bulk_posts(workspace, platforms, count)
    client = login(alice)
    # 1 session, 2 user, 3 memberships (access and navigation), 4 members count,
    # 5 connection, 6 unseen failures, 7 latest posts with their results and targets,
    # 8 next scheduled.
    with django_assert_num_queries(8):
        response = client.get(url(workspace))
    assert "Bulk post 0" in response.content.decode()
