"""The history list: rows, chips, filters in the URL, a fixed query count, and "Sync now"."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from posting.models import MirrorState, Post
from tests.posting.factories import bulk_posts, make_platforms, make_post
from tests.posting.sandbox_posts import *  # noqa: F403

pytestmark = pytest.mark.django_db


def url(workspace, **params) -> str:
    base = reverse("posting:history", kwargs={"code": workspace.code})
    return f"{base}?{urlencode(params)}" if params else base


def sync_url(workspace) -> str:
    return reverse("posting:sync", kwargs={"code": workspace.code})


def descriptions(response) -> list[str]:
    html = response.content.decode()
    return re.findall(r'data-testid="post-link">([^<]+)</a>', html)


@pytest.fixture
def platforms(workspace):
    return make_platforms(workspace)


@pytest.fixture
def sample(workspace, platforms, alice, bob):
    now = timezone.now()
    return {
        "partly": make_post(
            workspace,
            platforms,
            {"TikTok": "FAILED:SANDBOX_FORCED_FAILURE", "Instagram": "SUCCESS", "X": "SUCCESS"},
            description="Partly failed launch",
            author=alice,
            created_at=now - timedelta(hours=1),
        ),
        "ok": make_post(
            workspace,
            platforms,
            {"YouTube": "SUCCESS"},
            description="All good",
            author=bob,
            created_at=now - timedelta(hours=2),
        ),
        "failed": make_post(
            workspace,
            platforms,
            {"X": "FAILED:DESCRIPTION_TOO_LONG"},
            description="Too long for X",
            created_at=now - timedelta(hours=3),
            due_at=now - timedelta(days=3),
        ),
        "pending": make_post(
            workspace,
            platforms,
            {"Facebook": "PENDING"},
            description="Still pending",
            created_at=now - timedelta(hours=4),
        ),
        "queued": make_post(
            workspace,
            platforms,
            description="Queued here",
            state=Post.State.QUEUED,
            author=alice,
            created_at=now - timedelta(hours=5),
        ),
    }


def test_it_lists_posts_newest_first_with_a_chip_per_platform(
    workspace, platforms, sample, alice, login
):
    sample["queued"].target_platforms.add(platforms["TikTok"])
    response = login(alice).get(url(workspace))

    assert response.status_code == 200
    assert descriptions(response) == [
        "Partly failed launch",
        "All good",
        "Too long for X",
        "Still pending",
        "Queued here",
    ]
    html = response.content.decode()
    first = reverse(
        "posting:post", kwargs={"code": workspace.code, "post_code": sample["partly"].code}
    )
    assert f'href="{first}" data-testid="post-link"' in html
    assert "2 of 3 posted" in html
    assert "SANDBOX_FORCED_FAILURE" in html and "DESCRIPTION_TOO_LONG" in html
    assert "TikTok · Queued" in html
    assert "Taisly&#x27;s own app" in html  # the author of posts found in history
    assert "UTC+0000" in html


def test_times_are_in_the_users_time_zone_with_the_offset(workspace, sample, alice, login):
    alice.timezone = "Asia/Jakarta"
    alice.save()

    html = login(alice).get(url(workspace)).content.decode()

    assert "UTC+0700" in html


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("partly_failed", ["Partly failed launch"]),
        ("success", ["All good"]),
        ("failed", ["Too long for X"]),
        ("pending", ["Still pending"]),
        ("queued", ["Queued here"]),
        ("cancelled", []),
    ],
)
def test_it_filters_by_status(workspace, sample, alice, login, status, expected):
    response = login(alice).get(url(workspace, status=status))

    assert response.status_code == 200
    assert descriptions(response) == expected


def test_it_filters_by_network_text_author_and_date(workspace, sample, alice, bob, login):
    client = login(alice)
    bob_code = Membership.objects.get(user=bob, workspace=workspace).code

    assert descriptions(client.get(url(workspace, network="X"))) == [
        "Partly failed launch",
        "Too long for X",
    ]
    assert descriptions(client.get(url(workspace, q="  good "))) == ["All good"]
    assert descriptions(client.get(url(workspace, author=bob_code))) == ["All good"]
    assert descriptions(client.get(url(workspace, author="taisly"))) == [
        "Too long for X",
        "Still pending",
    ]
    day = (timezone.now() - timedelta(days=3)).date().isoformat()
    assert descriptions(client.get(url(workspace, start=day, end=day))) == ["Too long for X"]


def test_unreadable_filters_get_a_sentence_and_422(workspace, sample, alice, login):
    response = login(alice).get(url(workspace, start="yesterday", author="nobody"))

    assert response.status_code == 422
    html = response.content.decode()
    assert "Some filters could not be read and are left out" in html
    # The list stays in view: both filters are left out, so every post is listed.
    assert len(descriptions(response)) == len(descriptions(login(alice).get(url(workspace))))
    assert descriptions(response)


def test_an_end_before_the_start_is_refused(workspace, sample, alice, login):
    response = login(alice).get(url(workspace, start="2026-02-02", end="2026-02-01"))

    assert response.status_code == 422
    html = response.content.decode()
    assert "The end date is before the start date." in html
    assert 'id="id_start" name="start" type="date" value="2026-02-02"' in html  # kept


def test_a_filter_change_by_htmx_says_why_it_was_refused(workspace, sample, alice, login):
    """htmx swaps in only the results: the reason must be there, not only beside the field."""
    response = login(alice).get(
        url(workspace, start="2026-02-02", end="2026-02-01"), HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="id_start"' not in html  # the results alone
    assert "The end date is before the start date." in html


def test_a_big_history_is_counted_up_to_a_cap(workspace, platforms, alice, login, settings):
    from posting.reporting import views as view

    bulk_posts(workspace, platforms, 30)
    view_cap, view.COUNT_CAP = view.COUNT_CAP, 25
    try:
        html = login(alice).get(url(workspace, page=2)).content.decode()
    finally:
        view.COUNT_CAP = view_cap

    assert "More than 25 posts: filters narrow them down." in html
    assert "Page 2" in html and "Page 2 of" not in html


def test_the_page_lives_in_the_url(workspace, platforms, alice, login):
    bulk_posts(workspace, platforms, 45)
    client = login(alice)

    first = client.get(url(workspace))
    third = client.get(url(workspace, page=3))

    assert len(descriptions(first)) == 20 and len(descriptions(third)) == 5
    assert descriptions(third)[-1] == "Bulk post 44"
    assert "Page 3 of 3" in third.content.decode()
    assert 'href="/w/' in first.content.decode() and "page=2" in first.content.decode()


def test_an_htmx_request_gets_only_the_results(workspace, sample, alice, login):
    response = login(alice).get(url(workspace, status="failed"), headers={"HX-Request": "true"})

    html = response.content.decode()
    assert "<html" not in html
    assert '<option value="failed" selected>' not in html  # the form is outside the fragment
    full = login(alice).get(url(workspace, status="failed")).content.decode()
    assert '<option value="failed" selected>Failed everywhere</option>' in full
    failed = reverse(
        "posting:post", kwargs={"code": workspace.code, "post_code": sample["failed"].code}
    )
    assert f'href="{failed}"' in html
    assert html.strip().startswith('<div id="history-results"')
    assert descriptions(response) == ["Too long for X"]


def test_the_empty_history_says_where_posts_come_from(workspace, alice, login):
    html = login(alice).get(url(workspace)).content.decode()

    assert "No posts yet." in html
    assert "Never synced with Taisly yet." in html


@pytest.mark.parametrize("count", [10, 10_000])
def test_the_query_count_does_not_grow_with_the_table(
    workspace, platforms, alice, login, django_assert_num_queries, count
):
    bulk_posts(workspace, platforms, count, author=alice)
    client = login(alice)
    filtered = url(workspace, status="partly_failed", network="TikTok", q="Bulk", page=2)

    for address in (url(workspace), filtered):
        # 1 session, 2 user, 3 the user's memberships (access and navigation), 4 the
        # workspace's memberships (author filter), 5 count, 6 page of posts (with authors,
        # their results and their target platforms), 7 mirror state.
        with django_assert_num_queries(7):
            response = client.get(address)
        assert response.status_code == 200
        assert len(descriptions(response)) == min(count, 20)


def test_a_viewer_sees_no_sync_button_and_cannot_sync(workspace, sample, vera, login, calls):
    client = login(vera)

    html = client.get(url(workspace)).content.decode()
    assert 'data-testid="sync-now"' not in html
    assert client.post(sync_url(workspace)).status_code == 403
    assert calls == []


def test_sync_now_brings_in_a_post_made_in_taisly(
    workspace, alice, connected, sandbox_api, test_video, login, calls
):
    platform_ids = {p["platform"]: p["_id"] for p in connected["platforms"]}
    sandbox_api.create_post(
        test_video, [platform_ids["TikTok"], platform_ids["X"]], description="From the app"
    )
    client = login(alice)
    assert "Sync now (1 Taisly request)" in client.get(url(workspace)).content.decode()

    response = client.post(sync_url(workspace), {"next": url(workspace)}, follow=True)

    assert [c.endpoint for c in calls] == ["GET /post/history"]
    html = response.content.decode()
    assert "Synced with Taisly: 1 new post, 2 platform results changed." in html
    assert descriptions(response) == ["From the app"]
    assert MirrorState.objects.get(workspace=workspace).history_synced_at is not None


def test_sync_now_goes_back_only_to_this_workspace(workspace, alice, connected, login):
    response = login(alice).post(sync_url(workspace), {"next": "https://evil.test/w/"})

    assert response.status_code == 302
    assert response["Location"] == url(workspace)


def test_sync_now_with_htmx_redirects_the_page(workspace, alice, connected, login):
    response = login(alice).post(
        sync_url(workspace), {"next": url(workspace)}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == url(workspace)


@pytest.mark.parametrize(
    ("fault", "sentence"),
    [
        ({"mode": "500"}, "Taisly had a problem of its own (HTTP 500). Nothing was synced."),
        ({"mode": "429", "retryAfter": 120}, "Try again in about 2 minutes. Nothing was synced."),
        ({"mode": "timeout", "delay": 2}, "Taisly did not answer in time. Nothing was synced."),
        ({"mode": "garbage"}, "could not be understood. Nothing was synced."),
    ],
)
def test_a_failing_sync_says_why_in_the_page(
    workspace, alice, connected, sandbox, login, settings, fault, sentence
):
    settings.TAISLY_READ_TIMEOUT = 0.5
    sandbox.fault(**fault)

    response = login(alice).post(sync_url(workspace), {"next": url(workspace)}, follow=True)

    assert response.status_code == 200
    assert sentence in response.content.decode().replace("&#x27;", "'")
    assert MirrorState.objects.get(workspace=workspace).history_synced_at is None


def test_a_revoked_key_says_so_in_the_page(workspace, alice, connected, sandbox_api, login):
    sandbox_api.post("/user/api-key/revoke")

    response = login(alice).post(sync_url(workspace), {"next": url(workspace)}, follow=True)

    assert response.status_code == 200
    assert "Taisly did not accept this key" in response.content.decode()
