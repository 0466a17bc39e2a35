"""Issue 17, "Statuses that update themselves": the post page's live part and how often it asks
again (posting.sending.live), the results watch that reads history when results are due
(posting.mirror.background), and the status papercuts found on the walk.

tests/e2e/test_live_status.py shows the same with real clusters, the sandbox and Chromium.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import TaislyConnection
from posting.mirror import background
from posting.models import MirrorState, Platform, Post, PostResult, reasons
from posting.reporting import health
from posting.sending import live, outcomes
from posting.taisly import governor
from posting.templatetags.posting_pages import attention
from tests.posting.sandbox_posts import *  # noqa: F403

pytestmark = pytest.mark.django_db

S = timedelta(seconds=1)
PENDING, SUCCESS, FAILED = PostResult.Status.PENDING, PostResult.Status.SUCCESS, "FAILED"


def post_page(post) -> str:
    return reverse("posting:post", kwargs={"code": post.workspace.code, "post_code": post.code})


def live_url(post) -> str:
    return reverse(
        "posting:post_progress", kwargs={"code": post.workspace.code, "post_code": post.code}
    )


def make(workspace, author=None, *, state=Post.State.SENT, results=(), **fields) -> Post:
    now = timezone.now()
    fields.setdefault("due_at", now - 5 * S)
    fields.setdefault("sent_at", fields["due_at"])
    post = Post.objects.create(
        workspace=workspace,
        author=author,
        state=state,
        description=fields.pop("description", "Kopi pagi"),
        taisly_id=fields.pop("taisly_id", None),
        **fields,
    )
    for network, status in results:
        platform, _ = Platform.objects.get_or_create(
            workspace=workspace, taisly_id=f"id-{network}", defaults={"network": network}
        )
        PostResult.objects.create(post=post, platform=platform, status=status)
        post.target_platforms.add(platform)
    return post


# --- How often the page asks ----------------------------------------------------------------


def test_the_page_backs_off_while_a_result_is_pending_and_stops_once_settled(workspace):
    now = timezone.now()
    post = make(workspace, results=[("TikTok", PENDING)], due_at=now - 5 * S)
    results = list(post.results.all())
    assert live.poll_after(post, results, now) == 2
    assert live.poll_after(post, results, now + 30 * S) == 5
    assert live.poll_after(post, results, now + 300 * S) == 10
    assert live.poll_after(post, results, now + 3600 * S) == 20  # capped
    for result in results:
        result.status = SUCCESS
    assert live.poll_after(post, results, now) is None
    # Sent, no result yet: it waits for Taisly; a scheduled post asks again once it is due.
    assert live.poll_after(post, [], now) == 2
    later = make(workspace, due_at=now + timedelta(hours=3), scheduled_at=now + timedelta(hours=3))
    assert live.poll_after(later, [], now) == live.POLL_LONGEST_AHEAD
    soon = make(workspace, due_at=now + 10 * S, scheduled_at=now + 10 * S)
    assert live.poll_after(soon, [], now) == 10


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (Post.State.QUEUED, 1),
        (Post.State.SENDING, 1),
        (Post.State.SEND_FAILED, None),
        (Post.State.NEEDS_CHECK, None),
        (Post.State.CANCELLED, None),
    ],
)
def test_the_dashboards_own_states(workspace, state, expected):
    post = make(workspace, state=state)
    assert live.poll_after(post, []) == expected


def test_a_send_tried_again_later_is_asked_about_when_the_try_is_due(workspace):
    now = timezone.now()
    post = make(workspace, state=Post.State.QUEUED, next_attempt_at=now + timedelta(minutes=40))
    assert live.poll_after(post, [], now) == live.POLL_LONGEST


def test_the_post_page_polls_itself_and_reloads_without_javascript_until_settled(
    workspace, alice, login
):
    post = make(workspace, alice, results=[("TikTok", PENDING)], description="Kopi senja")
    client = login(alice)
    html = client.get(post_page(post)).content.decode()
    assert f'hx-get="{live_url(post)}" hx-trigger="load delay:2s"' in html
    assert '<noscript><meta http-equiv="refresh" content="15"></noscript>' in html
    assert 'data-settled="false"' in html
    # The page is the post's: its title and breadcrumb name it.
    assert "<title>Kopi senja · Acme · taisly-dash</title>" in html
    assert 'data-testid="breadcrumb"' in html

    PostResult.objects.filter(post=post).update(status=SUCCESS)
    fragment = client.get(live_url(post), HTTP_HX_REQUEST="true")
    assert fragment.status_code == 286  # htmx swaps it in and asks no more
    body = fragment.content.decode()
    assert 'data-settled="true"' in body and "hx-get" not in body
    assert 'data-testid="post-summary">Posted<' in body
    html = client.get(post_page(post)).content.decode()
    assert "http-equiv" not in html and "load delay" not in html


# --- The results watch ------------------------------------------------------------------------


@pytest.fixture
def watch_on(settings, monkeypatch):
    """The watch turned on (the suite runs with it off), its tasks recorded, not run."""
    settings.SYNC_WATCH_SECONDS = 60
    enqueued: list[str] = []
    monkeypatch.setattr(background, "async_task", lambda func, *a, **k: enqueued.append(func))
    cache.delete(background.WATCH_CLAIM)
    yield enqueued
    cache.delete(background.WATCH_CLAIM)


def test_one_watch_at_a_time(watch_on):
    assert background.results_watch_start() is True
    assert background.results_watch_start() is False
    assert watch_on == ["posting.tasks.results_watch"]


def test_a_send_starts_the_watch(watch_on, workspace, alice):
    post = make(workspace, alice, state=Post.State.SENDING, due_at=None)
    assert outcomes.mark_sent(post, "t-1", [], scheduled=False)
    assert watch_on == ["posting.tasks.results_watch"]


def test_the_watch_reads_a_workspace_when_its_results_are_due_and_lets_go(
    watch_on, connected, workspace, monkeypatch
):
    """A post sent 5 s ago: read at once (never read), then, its results still PENDING, not
    before SYNC_FIRST_SECONDS later; the watch sleeps at most WATCH_LONGEST at a time and lets go
    of its worker after SYNC_WATCH_SECONDS."""
    post = make(workspace, results=[("TikTok", PENDING)], taisly_id="t-1")
    synced: list[int] = []

    def fake_sync(*, connection_id, ticket):
        synced.append(connection_id)
        MirrorState.objects.filter(workspace=workspace).update(
            history_synced_at=timezone.now(), sync_ticket=None
        )
        return "synced"

    monkeypatch.setattr(background, "sync_connection", fake_sync)
    slept: list[float] = []
    clock = [0.0]

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += seconds

    MirrorState.objects.filter(workspace=workspace).update(history_synced_at=None)
    outcome = background.results_watch(sleep=sleep, clock=lambda: clock[0])
    assert synced == [TaislyConnection.objects.get(workspace=workspace).pk]
    assert "1 syncs" in outcome
    assert slept and max(slept) <= background.WATCH_LONGEST and sum(slept) <= 60
    assert cache.get(background.WATCH_CLAIM) is None or watch_on  # let go, or handed on
    # Results still due at the end: the next watch is queued behind the cluster's other tasks.
    assert watch_on == ["posting.tasks.results_watch"]
    assert post.results.get().status == PENDING


def test_the_watch_ends_at_once_when_nothing_is_due(watch_on, connected, workspace):
    old = make(workspace, results=[("TikTok", PENDING)], taisly_id="t-2")
    Post.objects.filter(pk=old.pk).update(due_at=timezone.now() - timedelta(hours=2))
    slept: list[float] = []
    assert background.results_watch(sleep=slept.append) == "0 syncs while results were due"
    assert slept == [] and watch_on == []


def test_the_dispatcher_starts_the_watch_while_results_are_due(watch_on, connected, workspace):
    MirrorState.objects.update_or_create(
        workspace=workspace, defaults={"history_synced_at": timezone.now()}
    )
    background.sync_dispatch()
    assert watch_on == []  # nothing in flight
    make(workspace, results=[("TikTok", PENDING)], taisly_id="t-3")
    background.sync_dispatch()
    assert watch_on == ["posting.tasks.results_watch"]


# --- Papercuts ----------------------------------------------------------------------------------


def test_a_retry_shows_one_status_not_queued_sent_pending_and_queued_at_once(
    workspace, alice, login
):
    original = make(workspace, alice, results=[("TikTok", FAILED)], taisly_id="t-4")
    retry = make(workspace, alice, state=Post.State.QUEUED, retry_of=original, due_at=None)
    retry.target_platforms.add(Platform.objects.get(workspace=workspace, network="TikTok"))
    client = login(alice)
    html = client.get(post_page(retry)).content.decode()
    assert html.count(">Queued<") == 1  # the summary; not the card nor the platform again
    # Sent meanwhile: the whole live part is one answer, summary and rows alike.
    Post.objects.filter(pk=retry.pk).update(state=Post.State.SENT, taisly_id="t-5")
    PostResult.objects.create(
        post=retry, platform=Platform.objects.get(workspace=workspace, network="TikTok")
    )
    body = client.get(live_url(retry), HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="post-summary">Pending<' in body
    assert 'data-network="TikTok" data-status="PENDING"' in body
    assert "Queued" not in body and ">Sent<" not in body


def test_a_cancelled_post_shows_no_pending_chips(workspace, alice, login):
    post = make(workspace, alice, state=Post.State.CANCELLED, results=[("TikTok", PENDING)])
    client = login(alice)
    html = client.get(post_page(post)).content.decode()
    assert 'data-testid="result-status">Cancelled<' in html
    assert 'data-testid="result-status">Pending<' not in html
    history = client.get(reverse("posting:history", kwargs={"code": workspace.code}))
    assert "TikTok · Cancelled" in history.content.decode()
    assert "TikTok · Pending" not in history.content.decode()


def test_a_retry_that_failed_reads_failed_on_the_original(workspace, alice, login):
    original = make(workspace, alice, results=[("TikTok", FAILED)], taisly_id="t-6")
    make(workspace, alice, retry_of=original, taisly_id="t-7", results=[("Instagram", FAILED)])
    html = login(alice).get(post_page(original)).content.decode()
    assert 'data-testid="retry-summary">Failed<' in html
    assert "· Sent" not in html


def test_a_quota_wait_reads_in_the_viewers_time_zone_everywhere(workspace, alice, login):
    """The worker (UTC) decided "frees up at 17:57"; a viewer in Jakarta reads 00:57, as
    beside it "Next try: 00:57 UTC+0700"."""
    until = datetime(2026, 12, 6, 17, 57, tzinfo=UTC)
    now = until - timedelta(minutes=3)
    refused = governor.QuotaRefused(
        lambda: governor.spent_sentence(50, until, now), retry_after=180, until=until, blocked=False
    )
    with timezone.override("UTC"), translation.override("en"):
        assert "17:57" in refused.sentence
        stored = reasons.store(lambda: refused.sentence)
    post = make(
        workspace,
        alice,
        state=Post.State.QUEUED,
        state_reason=stored,
        next_attempt_at=until,
        attempts=1,
    )
    type(alice).objects.filter(pk=alice.pk).update(timezone="Asia/Jakarta")
    html = login(alice).get(post_page(post)).content.decode()
    assert "frees up at 00:57" in html and "17:57" not in html
    assert "07 Dec 2026, 00:57" in html or "7 Dec 2026, 00:57" in html
    with timezone.override("Asia/Jakarta"), translation.override("id"):
        indonesian = reasons.shown(stored)
    assert "00:57" in indonesian and "frees up" not in indonesian
    # Stored again (the next try keeps the reason): still a moment, not a time of day.
    with timezone.override("UTC"):
        again = reasons.store(reasons.later(stored))
    with timezone.override("Asia/Jakarta"):
        assert "00:57" in reasons.shown(again)


def test_unseen_failures_show_when_the_post_went_out_and_the_attention_says_why(
    workspace, alice, login
):
    went_out = timezone.now() - timedelta(days=3)
    make(workspace, alice, results=[("TikTok", FAILED)], taisly_id="t-8", due_at=went_out)
    html = login(alice).get(reverse("accounts:workspace", kwargs={"code": workspace.code}))
    box = html.content.decode().split('data-testid="unseen-failures"')[1].split("</ul>")[0]
    local = timezone.localtime(went_out, timezone.get_fixed_timezone(0))
    assert local.strftime("%H:%M") in box and f"{local.day} {local:%b %Y}" in box
    row = health.with_health(type(workspace).objects.filter(pk=workspace.pk), user=alice).get()
    assert row.last_post_at == went_out
    assert attention(row)["label"] == "1 failure not looked at yet"
    row.unread_alerts, row.send_problems = 2, 1
    assert attention(row)["label"] == (
        "1 failure not looked at yet · 2 unread alerts · 1 post not sent"
    )


def test_the_watch_lets_its_worker_go_as_soon_as_the_cluster_stops(
    watch_on, connected, workspace, monkeypatch
):
    """`docker stop` (SIGTERM) waits for the task a worker runs: a watch sleeping on held the
    default cluster past Docker's 10 s and it was killed. It now looks between one-second naps
    and ends without handing on."""
    make(workspace, results=[("TikTok", PENDING)], taisly_id="t-3")
    monkeypatch.setattr(background, "sync_connection", lambda **kwargs: "synced")
    clock = [0.0]
    naps: list[float] = []

    def sleep(seconds):
        naps.append(seconds)
        clock[0] += seconds

    told = {"stop": False}

    def stopping():
        if len(naps) >= 2:
            told["stop"] = True
        return told["stop"]

    outcome = background.results_watch(sleep=sleep, clock=lambda: clock[0], stopping=stopping)
    assert outcome.endswith("the cluster is stopping")
    assert len(naps) == 2 and max(naps) <= background.WATCH_TICK
    assert cache.get(background.WATCH_CLAIM) is None and watch_on == []


def test_a_worker_sees_its_own_cluster_stopping(monkeypatch):
    """The status record names the sentinel: only this worker's parent counts."""
    import os
    from types import SimpleNamespace

    from django_q.conf import Conf

    others = [SimpleNamespace(sentinel=os.getppid() + 1, status=Conf.STOPPING)]
    mine = SimpleNamespace(sentinel=os.getppid(), status=Conf.IDLE)
    monkeypatch.setattr(background.Stat, "get_all", staticmethod(lambda: [*others, mine]))
    assert background.cluster_stopping() is False
    mine.status = Conf.STOPPING
    assert background.cluster_stopping() is True
