"""A post with a caption per network is one post as the person made it (a group: a lead and
members, one Taisly post each). Every post count (the charts, the health rows and sparklines of
the agency overview and of staff oversight, a workspace's upcoming list) counts it once; its
results stay one per platform."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Workspace
from posting.models import Post, PostResult
from posting.reporting import charts, health, selectors
from tests.posting.factories import make_platforms, make_post

pytestmark = pytest.mark.django_db


def grouped(workspace, platforms, *, due_at, lead_results, member_results, **fields):
    """One user post: the lead (TikTok's caption) and a member (X's caption)."""
    lead = make_post(workspace, platforms, lead_results, due_at=due_at, **fields)
    make_post(workspace, platforms, member_results, due_at=due_at, group=lead, **fields)
    return lead


@pytest.fixture
def week(workspace):
    now = timezone.now()
    platforms = make_platforms(workspace, ["TikTok", "Instagram", "X"])
    yesterday = now - timedelta(days=1)
    # Two user posts yesterday: one with a caption per network, one plain.
    grouped(
        workspace,
        platforms,
        due_at=yesterday,
        lead_results={"TikTok": "SUCCESS", "Instagram": "SUCCESS"},
        member_results={"X": "FAILED:CODE"},
    )
    make_post(workspace, platforms, {"TikTok": "SUCCESS"}, due_at=yesterday)
    # One user post that never reached Taisly, for both of its captions.
    grouped(
        workspace,
        platforms,
        due_at=now - timedelta(days=2),
        lead_results={},
        member_results={},
        state=Post.State.SEND_FAILED,
    )
    # One upcoming grouped post.
    return grouped(
        workspace,
        platforms,
        due_at=now + timedelta(hours=3),
        lead_results={},
        member_results={},
    )


def test_the_chart_counts_a_group_once_and_shows_a_members_failure(workspace, week):
    tz = timezone.get_current_timezone()
    span, series = charts.posts_per_day(Post.objects.filter(workspace=workspace), tz=tz)
    # Yesterday: two user posts; the grouped one failed on X (its member's result).
    assert (series["posted"][-2], series["failed"][-2]) == (1, 1)
    assert series["send_failed"][-3] == 1
    assert sum(map(sum, series.values())) == 3
    # Results stay per platform: X's failure is counted where it happened.
    table = charts.success_per_network(PostResult.objects.filter(post__workspace=workspace))
    assert {row["network"]: row["failed"] for row in table}["X"] == 1


def test_health_rows_and_sparklines_count_a_group_once(alice, workspace, week):
    row = health.with_health(Workspace.objects.filter(pk=workspace.pk), user=alice).get()
    assert row.posts_week == 3
    assert row.send_problems == 1  # one user post not sent, though two Taisly posts
    assert (row.success_week, row.failed_week) == (3, 1)  # per platform, as before
    sparks = health.sparklines([workspace.pk], tz=timezone.get_current_timezone())
    assert sparks[workspace.pk].total == 3


def test_the_overview_lists_an_upcoming_group_once(workspace, week):
    overview = selectors.overview(workspace, now=timezone.now())
    assert [p.pk for p in overview["upcoming"]] == [week.pk]
