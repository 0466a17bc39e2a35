"""posting.mirror.sync against the sandbox over real HTTP: platforms and history into the mirror."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import TaislyConnection
from posting.mirror import sync
from posting.models import MirrorState, Platform, Post, PostResult
from posting.taisly import HistoryPost, taisly_call
from posting.taisly import Platform as TaislyPlatform
from posting.taisly import PostResult as TaislyResult
from posting.taisly.gateway import TaislyActionError
from tests.posting.sandbox_posts import *  # noqa: F403
from tests.posting.sandbox_posts import now_ms

pytestmark = pytest.mark.django_db


def ids(account) -> dict[str, str]:
    return {p["platform"]: p["_id"] for p in account["platforms"]}


def results_by_network(post: Post) -> dict[str, PostResult]:
    return {r.platform.network: r for r in post.results.select_related("platform")}


# --- Platforms -------------------------------------------------------------------------------


def test_connecting_a_key_stores_its_platforms(workspace, alice, taisly, sandbox):
    account = sandbox.create_account(platforms=["TikTok", "X"], disconnected=["X"])
    from posting.connection import keys

    keys.connection_connect(workspace=workspace, api_key=account["api_key"], plan=None, actor=alice)

    rows = {p.network: p for p in Platform.objects.filter(workspace=workspace)}
    assert set(rows) == {"TikTok", "X"}
    assert rows["TikTok"].connected and not rows["X"].connected
    assert rows["TikTok"].name == "@demo_tiktok"
    assert rows["X"].taisly_id == ids(account)["X"]
    assert all(p.gone_at is None for p in rows.values())
    assert MirrorState.objects.get(workspace=workspace).platforms_synced_at is not None


def test_a_platform_missing_from_taisly_is_marked_gone_and_comes_back(workspace):
    tiktok = TaislyPlatform(id="p1", network="TikTok", name="@a", avatar=None, connected=True)
    x = TaislyPlatform(id="p2", network="X", name="@b", avatar=None, connected=True)
    sync.platforms_store(workspace=workspace, platforms=[tiktok, x])

    summary = sync.platforms_store(workspace=workspace, platforms=[tiktok])

    assert summary.gone == 1
    gone = Platform.objects.get(workspace=workspace, taisly_id="p2")
    assert gone.gone_at is not None and not gone.connected and gone.name == "@b"

    renamed = TaislyPlatform(id="p2", network="X", name="@b2", avatar=None, connected=True)
    summary = sync.platforms_store(workspace=workspace, platforms=[tiktok, renamed])

    gone.refresh_from_db()
    assert gone.gone_at is None and gone.connected and gone.name == "@b2"
    assert summary.new == 0 and summary.total == 2
    assert Platform.objects.filter(workspace=workspace).count() == 2


def test_platforms_sync_makes_one_request(workspace, connected, calls):
    summary = sync.platforms_sync(workspace=workspace)

    assert [c.endpoint for c in calls] == ["GET /platform/platforms"]
    assert summary.total == 5 and summary.new == 0


# --- History ---------------------------------------------------------------------------------


def test_a_post_made_in_taisly_appears_and_its_results_follow(
    workspace, connected, sandbox, sandbox_api, test_video, calls
):
    platform_ids = ids(connected)
    history_id = sandbox_api.create_post(
        test_video,
        [platform_ids["TikTok"], platform_ids["Instagram"], platform_ids["YouTube"]],
        description="Launch #fail:TikTok",
        previewTime="1.5",
    ).json()["historyId"]

    first = sync.history_sync(workspace=workspace)

    assert [c.endpoint for c in calls] == ["GET /post/history"]
    assert (first.new_posts, first.changed_results) == (1, 3)
    post = Post.objects.get(workspace=workspace, taisly_id=history_id)
    assert post.origin == Post.Origin.HISTORY
    assert post.state == Post.State.SENT
    assert post.description == "Launch #fail:TikTok"
    assert post.cover_second == 1.5
    assert post.author is None and post.due_at is not None
    assert {n: r.status for n, r in results_by_network(post).items()} == {
        "TikTok": "PENDING",
        "Instagram": "PENDING",
        "YouTube": "PENDING",
    }

    sandbox.advance(5)
    second = sync.history_sync(workspace=workspace)

    assert (second.new_posts, second.changed_results) == (0, 3)
    results = results_by_network(post)
    assert results["TikTok"].status == "FAILED"
    assert results["TikTok"].code == "SANDBOX_FORCED_FAILURE"
    assert results["Instagram"].status == results["YouTube"].status == "SUCCESS"
    assert results["TikTok"].status_changed_at > results["TikTok"].first_seen_at

    third = sync.history_sync(workspace=workspace)
    assert (third.new_posts, third.changed_results) == (0, 0)
    assert Post.objects.filter(workspace=workspace).count() == 1
    assert len(calls) == 3


def test_a_dashboard_post_is_matched_by_its_taisly_id(
    workspace, alice, connected, sandbox_api, test_video
):
    body = sandbox_api.create_post(test_video, [ids(connected)["X"]], description="ours").json()
    mine = Post.objects.create(
        workspace=workspace,
        author=alice,
        description="ours",
        state=Post.State.SENT,
        taisly_id=body["historyId"],
    )

    summary = sync.history_sync(workspace=workspace)

    assert summary.new_posts == 0
    assert Post.objects.filter(workspace=workspace).get() == mine
    mine.refresh_from_db()
    assert mine.origin == Post.Origin.DASHBOARD and mine.author == alice
    assert mine.due_at is not None
    assert [r.platform.network for r in mine.results.all()] == ["X"]


def test_a_repost_is_marked_with_its_source(workspace, connected, sandbox, sandbox_api, test_video):
    platform_ids = ids(connected)
    rule = sandbox_api.post(
        "/repost/add", json={"from": platform_ids["TikTok"], "to": [platform_ids["Facebook"]]}
    )
    assert rule.status_code == 200, rule.text
    sandbox_api.create_post(test_video, [platform_ids["TikTok"]], description="fan out")

    sync.history_sync(workspace=workspace)

    results = results_by_network(Post.objects.get(workspace=workspace))
    assert not results["TikTok"].is_repost
    assert results["Facebook"].is_repost
    assert results["Facebook"].repost_of == results["TikTok"].platform


def test_a_scheduled_post_cancelled_in_taisly_is_marked_cancelled(
    workspace, connected, sandbox_api, test_video
):
    due = now_ms() + 3_600_000
    body = sandbox_api.create_post(
        test_video, [ids(connected)["TikTok"]], description="later", scheduled=due
    ).json()
    sync.history_sync(workspace=workspace)
    post = Post.objects.get(workspace=workspace)
    assert post.scheduled_at == datetime.fromtimestamp(due / 1000, tz=UTC)
    assert post.due_at == post.scheduled_at

    cancelled = sandbox_api.get("/post/cancelSchedule", params={"id": body["historyId"]})
    assert cancelled.status_code == 200, cancelled.text
    summary = sync.history_sync(workspace=workspace)

    post.refresh_from_db()
    assert summary.removed_posts == 1
    assert post.state == Post.State.CANCELLED
    assert post.state_reason == sync.CANCELLED_AT_TAISLY


@pytest.mark.parametrize("mode", ["500", "garbage", "429"])
def test_a_failing_sync_changes_nothing(
    workspace, connected, sandbox, sandbox_api, test_video, mode
):
    sandbox_api.create_post(test_video, [ids(connected)["TikTok"]], description="unseen")
    sandbox.fault(mode)

    with pytest.raises(TaislyActionError) as caught:
        sync.history_sync(workspace=workspace)

    assert caught.value.message
    assert not Post.objects.filter(workspace=workspace).exists()
    assert MirrorState.objects.get(workspace=workspace).history_synced_at is None


def test_a_revoked_key_says_so_and_marks_the_connection(workspace, connected, sandbox_api):
    assert sandbox_api.post("/user/api-key/revoke").status_code == 200

    with pytest.raises(TaislyActionError, match="did not accept this key"):
        sync.history_sync(workspace=workspace)

    assert TaislyConnection.objects.get(workspace=workspace).status == "invalid"


# --- The backfill of a new connection -----------------------------------------------------------


def make_posts(sandbox_api, video, account, n: int) -> list[str]:
    """``n`` posts scheduled a minute apart (so "newest first" is certain); oldest first."""
    due = now_ms() + 3_600_000
    platform = ids(account)["TikTok"]
    return [
        sandbox_api.create_post(
            video, [platform], description=f"post {i}", scheduled=due + i * 60_000
        ).json()["historyId"]
        for i in range(n)
    ]


def mirrored(workspace) -> set[str]:
    return set(Post.objects.filter(workspace=workspace).values_list("taisly_id", flat=True))


def test_a_new_connection_backfills_up_to_the_page_limit(
    workspace, connected, sandbox_api, test_video, calls, settings
):
    settings.SYNC_BACKFILL_PAGES = 2
    made = make_posts(sandbox_api, test_video, connected, 25)
    calls.clear()

    summary = sync.history_sync(workspace=workspace)

    assert [c.endpoint for c in calls] == ["GET /post/history"] * 2
    assert mirrored(workspace) == set(made[5:])  # the 20 newest
    assert summary.new_posts == 20 and summary.removed_posts == 0
    state = MirrorState.objects.get(workspace=workspace)
    assert state.history_synced_at is not None and state.backfill_page is None

    calls.clear()
    later = sync.history_sync(workspace=workspace)  # later syncs read the window: one request
    assert len(calls) == 1 and later.start < later.end
    # (the window reaches POSTING_SYNC_AHEAD_DAYS ahead, so it finds the 5 older scheduled ones)
    assert mirrored(workspace) == set(made)


def test_the_backfill_stops_at_the_first_page_holding_a_known_post(
    workspace, connected, sandbox_api, test_video, calls, settings
):
    settings.SYNC_BACKFILL_PAGES = 10
    made = make_posts(sandbox_api, test_video, connected, 25)
    # Newest first: page 1 holds posts 24..15, page 2 holds 14..5, page 3 holds 4..0.
    Post.objects.create(workspace=workspace, taisly_id=made[12], state="sent")
    calls.clear()

    summary = sync.history_sync(workspace=workspace)

    assert len(calls) == 2
    assert mirrored(workspace) == set(made[5:])
    assert summary.new_posts == 19


def test_a_backfill_refused_midway_keeps_what_it_read_and_goes_on_next_sync(
    workspace, connected, sandbox, sandbox_api, test_video, calls, settings
):
    settings.SYNC_BACKFILL_PAGES = 10
    made = make_posts(sandbox_api, test_video, connected, 25)
    calls.clear()

    def refuse_the_second_page(sender, record, **kwargs):
        if len(calls) == 1:
            sandbox.fault("429", retryAfter=60)

    taisly_call.connect(refuse_the_second_page, weak=False, dispatch_uid="refuse_second_page")
    try:
        first = sync.history_sync(workspace=workspace)
    finally:
        taisly_call.disconnect(dispatch_uid="refuse_second_page")

    assert [c.status for c in calls] == [200, 429]
    assert first.new_posts == 10 and mirrored(workspace) == set(made[15:])
    state = MirrorState.objects.get(workspace=workspace)
    assert state.backfill_page == 2 and state.history_synced_at is not None

    # Meanwhile a post is made: it pushes post 15 (already read) onto page 2.
    newer = sandbox_api.create_post(
        test_video, [ids(connected)["X"]], description="newer", scheduled=now_ms() + 7_200_000
    ).json()["historyId"]
    calls.clear()
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=False):
        second = sync.history_sync(workspace=workspace)

    # Pages 2 and 3 (3 has no next): the rest of the history, not stopped by post 15.
    assert len(calls) == 2
    assert mirrored(workspace) == set(made[:15]) | set(made[15:])
    assert newer not in mirrored(workspace)  # on page 1, which the backfill had read
    assert second.new_posts == 15
    assert MirrorState.objects.get(workspace=workspace).backfill_page is None

    calls.clear()
    with time_machine.travel(timezone.now() + timedelta(seconds=62), tick=False):
        sync.history_sync(workspace=workspace)  # the window now, which finds the newer post
    assert len(calls) == 1
    assert newer in mirrored(workspace)


# --- The window ------------------------------------------------------------------------------


def test_a_never_synced_window_is_bounded_by_the_lookback(workspace, settings):
    """history_sync backfills by pages then; the window is only ever a bound."""
    settings.POSTING_SYNC_LOOKBACK_DAYS = 14
    settings.POSTING_SYNC_AHEAD_DAYS = 60
    now = timezone.now()

    start, end = sync.sync_window(workspace, now)

    assert (now - start, end - now) == (timedelta(days=14), timedelta(days=60))


def test_later_syncs_start_at_the_oldest_post_that_can_still_change(workspace, settings):
    settings.POSTING_SYNC_LOOKBACK_DAYS = 14
    now = timezone.now()
    MirrorState.objects.create(workspace=workspace, history_synced_at=now - timedelta(hours=1))
    platform = Platform.objects.create(workspace=workspace, taisly_id="p", network="TikTok")
    done = Post.objects.create(
        workspace=workspace, taisly_id="a", state="sent", due_at=now - timedelta(days=5)
    )
    PostResult.objects.create(post=done, platform=platform, status="SUCCESS")

    start, _end = sync.sync_window(workspace, now)
    assert start == now - timedelta(hours=1) - sync.SYNC_OVERLAP

    pending = Post.objects.create(
        workspace=workspace, taisly_id="b", state="sent", due_at=now - timedelta(days=3)
    )
    PostResult.objects.create(post=pending, platform=platform, status="PENDING")
    start, _end = sync.sync_window(workspace, now)
    assert start == now - timedelta(days=3) - sync.SYNC_OVERLAP

    Post.objects.create(
        workspace=workspace, taisly_id="c", state="sent", due_at=now - timedelta(days=40)
    )  # sent long ago, never any result: bounded by the lookback
    start, _end = sync.sync_window(workspace, now)
    assert start == now - timedelta(days=14)


# --- The diff on its own (shapes the sandbox does not make) ------------------------------------


def _history_post(post_id: str, *results: TaislyResult, description: str = "d") -> HistoryPost:
    moment = timezone.now()
    return HistoryPost(
        id=post_id,
        description=description,
        date=moment,
        created_at=moment,
        scheduled=False,
        scheduled_at=None,
        preview_time=0,
        results=results,
    )


def test_a_result_on_an_unknown_platform_gets_a_gone_placeholder(workspace):
    now = timezone.now()
    item = _history_post("h1", TaislyResult(platform_id="zz", network="YouTube", status="SUCCESS"))

    sync.history_store(workspace=workspace, posts=[item], start=now, end=now)

    placeholder = Platform.objects.get(workspace=workspace, taisly_id="zz")
    assert placeholder.network == "YouTube" and placeholder.gone_at is not None
    assert PostResult.objects.get().platform == placeholder


def test_a_post_still_being_sent_from_here_is_not_copied_in_twice(workspace):
    now = timezone.now()
    Post.objects.create(workspace=workspace, description="in flight", state="sending")
    item = _history_post(
        "h2",
        TaislyResult(platform_id="p", network="X", status="PENDING"),
        description="in flight",
    )

    summary = sync.history_store(workspace=workspace, posts=[item], start=now, end=now)

    assert summary.new_posts == 0
    assert Post.objects.filter(workspace=workspace).count() == 1


def test_a_failed_result_message_that_is_a_sentence_is_kept_as_the_message(workspace):
    now = timezone.now()
    item = _history_post(
        "h3", TaislyResult(platform_id="p", network="X", status="FAILED", message="Token expired.")
    )

    sync.history_store(workspace=workspace, posts=[item], start=now, end=now)

    result = PostResult.objects.get()
    assert (result.code, result.message) == ("", "Token expired.")


def test_a_result_that_fails_again_is_unseen_again(workspace):
    now = timezone.now()
    failed = TaislyResult(platform_id="p", network="X", status="FAILED", message="CODE_A")
    sync.history_store(workspace=workspace, posts=[_history_post("h4", failed)], start=now, end=now)
    PostResult.objects.update(seen_at=now)

    again = TaislyResult(platform_id="p", network="X", status="FAILED", message="CODE_B")
    sync.history_store(workspace=workspace, posts=[_history_post("h4", again)], start=now, end=now)

    result = PostResult.objects.get()
    assert result.code == "CODE_B" and result.seen_at is None


def test_a_post_that_got_its_taisly_id_after_the_request_is_not_judged(workspace):
    """The uploads worker may store a scheduled post's id while the history request is out."""
    asked_at = timezone.now() - timedelta(seconds=5)
    Post.objects.create(
        workspace=workspace,
        taisly_id="fresh",
        state="sent",
        scheduled_at=asked_at + timedelta(hours=2),
        due_at=asked_at + timedelta(hours=2),
    )

    summary = sync.history_store(
        workspace=workspace,
        posts=[],
        start=asked_at - timedelta(days=1),
        end=asked_at + timedelta(days=60),
        now=asked_at,
    )

    assert summary.removed_posts == 0
    assert Post.objects.get(taisly_id="fresh").state == "sent"
