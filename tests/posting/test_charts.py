"""Charts: CSP-safe SVG (no script, no style), a title and a description for screen readers,
scaled by its viewBox, with its numbers in a table; one aggregate query per chart."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import TaislyConnection
from posting.models import Post, PostResult, TaislyRequest
from posting.reporting import charts
from tests.posting.factories import make_platforms, make_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(workspace):
    now = timezone.now()
    connection = TaislyConnection.objects.create(
        workspace=workspace, key_hint="taisly_…a1b2", key_fingerprint="fp-acme"
    )
    platforms = make_platforms(workspace, ["TikTok", "X"])
    make_post(workspace, platforms, {"TikTok": "SUCCESS", "X": "SUCCESS"}, due_at=now)
    make_post(workspace, platforms, {"TikTok": "SUCCESS", "X": "FAILED:C"}, due_at=now)
    make_post(workspace, platforms, {"X": "PENDING"}, due_at=now - timedelta(days=3))
    make_post(workspace, platforms, {}, due_at=now - timedelta(days=3), state="send_failed")
    make_post(workspace, platforms, {}, due_at=now - timedelta(days=3), state="cancelled")
    TaislyRequest.objects.bulk_create(
        TaislyRequest(connection=connection, fingerprint="fp-acme", endpoint="history")
        for _ in range(3)
    )
    return connection


def test_posts_per_day_are_stacked_by_outcome(workspace, history):
    tz = timezone.get_current_timezone()
    span, series = charts.posts_per_day(Post.objects.filter(workspace=workspace), tz=tz)
    assert len(span) == 30 and span[-1] == timezone.localdate()
    assert (series["posted"][-1], series["failed"][-1]) == (1, 1)
    assert (series["pending"][-4], series["send_failed"][-4]) == (1, 1)
    assert sum(map(sum, series.values())) == 4  # the cancelled one is not drawn
    chart = charts.stacked_chart("t", span, series)
    # Two stacked rects on the last day, the failed one on top of the posted one.
    last = [r for r in chart.rects if r.label.startswith(span[-1].isoformat())]
    assert len(last) == 2 and last[1].y + last[1].h == pytest.approx(last[0].y)


def test_success_rate_per_network(workspace, history):
    table = charts.success_per_network(PostResult.objects.filter(post__workspace=workspace))
    assert table == [
        {"network": "TikTok", "success": 2, "failed": 0, "rate": 100},
        {"network": "X", "success": 1, "failed": 1, "rate": 50},
    ]


def test_the_chart_page_is_csp_safe_svg_with_titles_and_tables(
    alice, workspace, history, login, django_assert_num_queries
):
    client = login(alice)
    url = reverse("posting:charts", kwargs={"code": workspace.code})
    client.get(url)
    # 1 session, 2 user, 3 the user's memberships (access and navigation), 4 the connection,
    # 5 posts per day, 6 results per network, 7 requests per hour (the quota strip loads
    # itself by htmx).
    with django_assert_num_queries(7):
        response = client.get(url)
    page = response.content.decode()
    svgs = re.findall(r"<svg viewBox=\"0 0 \d+ \d+\" role=\"img\".*?</svg>", page, re.S)
    assert len(svgs) == 3  # per day, per network, one connection's hours
    for svg in svgs:
        ident = re.search(r'aria-labelledby="([^ "]+)-title \1-desc"', svg).group(1)
        assert f'<title id="{ident}-title">' in svg and f'<desc id="{ident}-desc">' in svg
        assert "<script" not in svg and "<style" not in svg and " style=" not in svg
        tags = re.findall(r"<[a-z][^>]*>", svg)
        assert not [t for t in tags if re.search(r"\son[a-z]+=", t)]  # no event handlers
    assert "4 posts, 1 posted, 1 pending, 1 failed on a network, 1 not sent" in page
    assert 'data-testid="days-table"' in page and 'data-testid="networks-table"' in page
    networks = page.split('data-testid="networks-table"')[1]
    assert re.search(r"X</th><td[^>]*>1</td><td[^>]*>1</td><td[^>]*>50%", networks)
    assert "3 requests in all" in page and "limit 50" in page


def test_numbers_in_svg_are_never_localised(alice, workspace, history, login):
    alice.language = "id"
    alice.save(update_fields=["language"])
    page = login(alice).get(
        reverse("posting:charts", kwargs={"code": workspace.code}), HTTP_ACCEPT_LANGUAGE="id"
    )
    for value in re.findall(r' (?:x|y|width|height)="([^"]*)"', page.content.decode()):
        assert "," not in value, value


def test_staff_charts_cover_every_workspace(staff, workspace, history, login):
    page = login(staff).get(reverse("oversight:charts")).content.decode()
    assert "4 posts, 1 posted" in page and "Acme" in page
