"""posting.mirror.background against the sandbox: due-ness, the dispatcher and the
per-connection task.

django-q2 runs tasks inline under pytest (``Q_CLUSTER["sync"]``), so ``sync_dispatch`` runs each
enqueued sync at once; tests/posting/test_quota_processes.py runs real clusters.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django_q.models import Schedule

from accounts.models import TaislyConnection, Workspace
from posting import tasks
from posting.connection import keys
from posting.mirror import background
from posting.mirror.background import next_sync_at
from posting.mirror.sync import history_sync
from posting.models import MirrorState, Post, PostResult, TaislyRequest
from posting.schedules import LEDGER_SCHEDULE, SYNC_SCHEDULE, ensure_schedules
from tests.posting.sandbox_posts import *  # noqa: F403

pytestmark = pytest.mark.django_db

NOW = timezone.now()
S = timedelta(seconds=1)


def connection_of(workspace) -> TaislyConnection:
    return TaislyConnection.objects.get(workspace=workspace)


def state_of(workspace) -> MirrorState:
    return MirrorState.objects.get(workspace=workspace)


def ids(account) -> dict[str, str]:
    return {p["platform"]: p["_id"] for p in account["platforms"]}


def due(workspace, **kwargs) -> bool:
    return any(
        c.connection.workspace_id == workspace.pk for c in background.due_connections(**kwargs)
    )


def run_sync(workspace) -> str:
    """What the dispatcher does for one workspace, then its task."""
    ticket = uuid.uuid4()
    MirrorState.objects.get_or_create(workspace=workspace)
    MirrorState.objects.filter(workspace=workspace).update(
        sync_ticket=ticket, sync_ticket_at=timezone.now()
    )
    return tasks.sync_connection(connection_of(workspace).pk, str(ticket))


# --- Due-ness --------------------------------------------------------------------------------


def test_a_never_synced_workspace_is_due_at_once():
    assert (
        next_sync_at(synced_at=None, last_event=None, retry_at=None, plan="STARTER", now=NOW) == NOW
    )


def test_with_nothing_in_flight_it_syncs_once_per_idle_period(settings):
    settings.SYNC_IDLE_SHARE, settings.SYNC_FIRST_SECONDS = 0.25, 20

    def idle(plan, **kwargs):
        return next_sync_at(
            synced_at=NOW, last_event=None, retry_at=None, plan=plan, now=NOW, **kwargs
        )

    # A quarter of the plan's hour: Starter 12.5 of 50 reads (every 288 s, i.e. at the
    # dispatcher's fifth minute), Influencer 50 of 200 (72 s: the second minute), Pro 250 of
    # 1,000 (14.4 s), floored at SYNC_FIRST_SECONDS (the next minute).
    assert idle("STARTER") == NOW + 288 * S
    assert idle("INFLUENCER") == NOW + 72 * S
    assert idle("PRO") == NOW + 20 * S
    # Two workspaces holding one key split its idle share.
    assert idle("STARTER", sharing=2) == NOW + 576 * S


@pytest.mark.parametrize(
    ("plan", "limit", "minutes"), [("STARTER", 50, 5), ("INFLUENCER", 200, 2), ("PRO", 1000, 1)]
)
def test_idle_syncs_spend_a_small_fixed_share_of_the_plan_s_hour(settings, plan, limit, minutes):
    """Walk a quiet hour the way the minute dispatcher does: sync whenever due. The idle syncs
    find posts made outside the dashboard within a few minutes, and spend at most
    SYNC_IDLE_SHARE of the hour, far below the background share."""
    settings.SYNC_IDLE_SHARE, settings.SYNC_FIRST_SECONDS, settings.SYNC_BUDGET_FRACTION = (
        0.25,
        20,
        0.5,
    )
    synced, syncs, gaps = NOW, 0, set()
    for minute in range(1, 61):
        now = NOW + timedelta(minutes=minute)
        when = next_sync_at(synced_at=synced, last_event=None, retry_at=None, plan=plan, now=now)
        if when <= now:
            gaps.add(now - synced)
            synced, syncs = now, syncs + 1
    assert gaps == {timedelta(minutes=minutes)}
    assert syncs == 60 // minutes
    assert syncs / limit <= settings.SYNC_IDLE_SHARE < settings.SYNC_BUDGET_FRACTION


def test_the_idle_period_follows_the_setting(settings):
    settings.SYNC_IDLE_SHARE, settings.SYNC_FIRST_SECONDS = 0.1, 20
    when = next_sync_at(synced_at=NOW, last_event=None, retry_at=None, plan="STARTER", now=NOW)
    assert when == NOW + 720 * S  # 5 of 50 an hour


def test_pages_call_history_stale_after_two_idle_periods(settings):
    settings.SYNC_IDLE_SHARE, settings.SYNC_FIRST_SECONDS = 0.25, 20
    settings.SYNC_DISPATCH_SECONDS = 60
    assert background.stale_after("STARTER") == 2 * 288 * S + background.LEASE
    # Pro's period is shorter than the dispatcher's minute: two minutes and a lease.
    assert background.stale_after("PRO") == 2 * 60 * S + background.LEASE


def test_soon_after_a_post_is_sent_then_backing_off_while_it_stays_pending(settings):
    settings.SYNC_FIRST_SECONDS, settings.SYNC_IDLE_SHARE = 20, 0.25
    sent = NOW
    # Sent after the last sync: 20 s after it went.
    first = next_sync_at(
        synced_at=sent - 200 * S, last_event=sent, retry_at=None, plan="STARTER", now=NOW
    )
    assert first == sent + 20 * S
    # Still pending at each sync: wait as long again as it has been in flight.
    gaps = []
    synced = first
    for _ in range(8):
        following = next_sync_at(
            synced_at=synced, last_event=sent, retry_at=None, plan="STARTER", now=NOW
        )
        gaps.append((following - synced).total_seconds())
        synced = following
    assert gaps[:4] == [20, 40, 80, 160]
    assert max(gaps) == 288  # never rarer than when idle (Starter's idle period)


def test_after_an_outage_not_before_the_retry_time():
    retry = NOW + 300 * S
    assert (
        next_sync_at(synced_at=None, last_event=None, retry_at=retry, plan="STARTER", now=NOW)
        == retry
    )


def test_which_connections_are_due(workspace, connected, settings):
    assert due(workspace)  # never synced
    history_sync(workspace=workspace)
    assert not due(workspace)
    # A backfill cut short by the budget goes on at once (within the budget, see below).
    MirrorState.objects.filter(workspace=workspace).update(backfill_page=2)
    assert due(workspace)
    MirrorState.objects.filter(workspace=workspace).update(backfill_page=None)
    assert not due(workspace, now=timezone.now() + background.idle_interval("STARTER") - S)
    later = timezone.now() + background.idle_interval("STARTER") + S
    assert due(workspace, now=later)

    # Blocked: not due. Leased by a running task: not due.
    TaislyConnection.objects.filter(workspace=workspace).update(blocked_until=later + S)
    assert not due(workspace, now=later)
    TaislyConnection.objects.filter(workspace=workspace).update(blocked_until=None)
    MirrorState.objects.filter(workspace=workspace).update(sync_claimed_until=later + S)
    assert not due(workspace, now=later)
    MirrorState.objects.filter(workspace=workspace).update(sync_claimed_until=None)

    # The key's background share spent: not due (interactive use does not stop it).
    connection = connection_of(workspace)
    TaislyRequest.objects.bulk_create(
        TaislyRequest(
            connection=connection,
            fingerprint=connection.key_fingerprint,
            kind=TaislyRequest.Kind.BACKGROUND,
            endpoint="GET /post/history",
            started_at=later - timedelta(minutes=5),
        )
        for _ in range(25)
    )
    assert not due(workspace, now=later)


def test_workspaces_holding_one_key_split_its_idle_share(workspace, connected):
    # Taisly counts per key: a second workspace holding it halves each one's idle cadence.
    history_sync(workspace=workspace)
    synced = state_of(workspace).history_synced_at
    idle = background.idle_interval("STARTER")
    assert due(workspace, now=synced + idle + S)
    conn = connection_of(workspace)
    other = Workspace.objects.create(name="Same key", kind=Workspace.Kind.CLIENT)
    TaislyConnection.objects.create(
        workspace=other,
        api_key=conn.api_key,
        key_hint=conn.key_hint,
        key_fingerprint=conn.key_fingerprint,
        plan=conn.plan,
    )
    assert not due(workspace, now=synced + idle + S)
    assert due(workspace, now=synced + 2 * idle + S)


def test_a_sent_post_makes_the_workspace_due_soon(
    workspace, connected, sandbox_api, test_video, settings
):
    history_sync(workspace=workspace)
    body = sandbox_api.create_post(test_video, [ids(connected)["TikTok"]], description="new").json()
    history_sync(workspace=workspace)  # the post is in the mirror, PENDING
    post = Post.objects.get(taisly_id=body["historyId"])
    assert post.results.get().status == "PENDING"
    assert not due(workspace)
    soon = timezone.now() + timedelta(seconds=2 * settings.SYNC_FIRST_SECONDS + 1)
    assert due(workspace, now=soon)


# --- The dispatcher and the task -------------------------------------------------------------


def test_a_post_made_directly_against_the_sandbox_appears_after_the_next_sync(
    workspace, connected, sandbox_api, test_video
):
    body = sandbox_api.create_post(
        test_video, [ids(connected)["X"]], description="from the app"
    ).json()

    assert background.sync_dispatch() == 1

    post = Post.objects.get(workspace=workspace, taisly_id=body["historyId"])
    assert post.origin == Post.Origin.HISTORY
    state = state_of(workspace)
    assert state.history_synced_at is not None and state.sync_ticket is None
    assert state.sync_claimed_until is None  # released
    assert (
        TaislyRequest.objects.filter(kind="background", endpoint="GET /post/history").count() == 1
    )
    # Nothing due any more: a second dispatcher (another cluster) hands nothing out.
    assert background.sync_dispatch() == 0


def test_a_status_change_from_pending_to_failed_lands_in_the_mirror(
    workspace, connected, sandbox, sandbox_api, test_video
):
    body = sandbox_api.create_post(
        test_video, [ids(connected)["TikTok"]], description="bad #fail"
    ).json()
    assert run_sync(workspace) == "synced"
    result = PostResult.objects.get(post__taisly_id=body["historyId"])
    assert result.status == "PENDING"

    sandbox.advance(5)
    assert run_sync(workspace) == "synced"

    result.refresh_from_db()
    assert (result.status, result.code) == ("FAILED", "SANDBOX_FORCED_FAILURE")
    assert result.status_changed_at > result.first_seen_at


def test_a_stuck_post_stays_pending(workspace, connected, sandbox, sandbox_api, test_video):
    platforms = ids(connected)
    body = sandbox_api.create_post(
        test_video, [platforms["TikTok"], platforms["X"]], description="#stuck:TikTok"
    ).json()
    sandbox.advance(3600)
    run_sync(workspace)
    statuses = dict(
        PostResult.objects.filter(post__taisly_id=body["historyId"]).values_list(
            "platform__network", "status"
        )
    )
    assert statuses == {"TikTok": "PENDING", "X": "SUCCESS"}


def test_a_redelivered_task_does_nothing(workspace, connected, calls):
    ticket = uuid.uuid4()
    MirrorState.objects.get_or_create(workspace=workspace)
    MirrorState.objects.filter(workspace=workspace).update(
        sync_ticket=ticket, sync_ticket_at=timezone.now()
    )
    connection_id = connection_of(workspace).pk
    calls.clear()

    assert tasks.sync_connection(connection_id, str(ticket)) == "synced"
    assert tasks.sync_connection(connection_id, str(ticket)) == "not claimed"
    assert tasks.sync_connection(connection_id, "not-a-ticket") == "not claimed"
    assert len([c for c in calls if c.endpoint == "GET /post/history"]) == 1


def test_a_task_finds_the_workspace_leased_by_another_and_does_nothing(workspace, connected, calls):
    ticket = uuid.uuid4()
    MirrorState.objects.get_or_create(workspace=workspace)
    MirrorState.objects.filter(workspace=workspace).update(
        sync_ticket=ticket, sync_claimed_until=timezone.now() + timedelta(minutes=1)
    )
    calls.clear()
    assert tasks.sync_connection(connection_of(workspace).pk, str(ticket)) == "not claimed"
    assert calls == []


def test_stale_platforms_and_rules_are_refreshed_with_the_history(workspace, connected, calls):
    MirrorState.objects.filter(workspace=workspace).update(
        platforms_synced_at=timezone.now() - timedelta(hours=7)
    )
    calls.clear()
    assert run_sync(workspace) == "synced"
    assert [c.endpoint for c in calls] == [
        "GET /post/history",
        "GET /platform/platforms",
        "GET /reposts",
    ]
    calls.clear()
    with time_machine.travel(timezone.now() + timedelta(hours=1), tick=False):
        assert run_sync(workspace) == "synced"
    assert [c.endpoint for c in calls] == ["GET /post/history"]


def test_a_failing_rule_refresh_keeps_the_synced_history(workspace, connected, sandbox, calls):
    from posting.taisly import taisly_call

    MirrorState.objects.filter(workspace=workspace).update(
        reposts_synced_at=timezone.now() - timedelta(hours=7)
    )
    armed = []

    def outage_after_history(sender, record, **kwargs):
        # The history request went through; the rules request that follows meets a 500.
        if record.endpoint == "GET /post/history" and not armed:
            armed.append(sandbox.fault("500"))

    calls.clear()
    taisly_call.connect(outage_after_history, weak=False, dispatch_uid="outage_after_history")
    try:
        assert run_sync(workspace) == "synced"
    finally:
        taisly_call.disconnect(dispatch_uid="outage_after_history")
    assert [(c.endpoint, c.status) for c in calls] == [
        ("GET /post/history", 200),
        ("GET /reposts", 500),
    ]
    assert state_of(workspace).history_synced_at is not None


# --- Failures --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "outcome"),
    [
        ("500", "outage"),
        ("garbage", "outage"),
        ("drop", "outage"),
        ("timeout", "outage"),
        ("429", "blocked"),
    ],
)
def test_a_sync_interrupted_by_a_fault_leaves_the_mirror_as_it_was(
    workspace, connected, sandbox, sandbox_api, test_video, settings, mode, outcome
):
    settings.TAISLY_READ_TIMEOUT = 1
    history_sync(workspace=workspace)
    sandbox_api.create_post(test_video, [ids(connected)["TikTok"]], description="unseen")
    before = (
        Post.objects.count(),
        PostResult.objects.count(),
        state_of(workspace).history_synced_at,
    )
    sandbox.fault(mode, delay=3) if mode == "timeout" else sandbox.fault(mode, retryAfter=120)

    assert run_sync(workspace) == outcome

    after = (
        Post.objects.count(),
        PostResult.objects.count(),
        state_of(workspace).history_synced_at,
    )
    assert after == before
    state = state_of(workspace)
    assert state.sync_claimed_until is None
    if outcome == "outage":
        assert state.sync_failures == 1 and state.sync_retry_at > timezone.now()
        assert not due(workspace)  # backing off
    else:
        assert connection_of(workspace).blocked_until > timezone.now()
        assert not due(workspace)


def test_outages_in_a_row_back_off_longer(workspace, connected, sandbox):
    sandbox.fault("500", count=2)
    run_sync(workspace)
    first = state_of(workspace).sync_retry_at
    run_sync(workspace)
    second = state_of(workspace).sync_retry_at
    assert second - timezone.now() > first - timezone.now() + timedelta(seconds=50)
    assert state_of(workspace).sync_failures == 2


def test_a_revoked_key_marks_the_connection_invalid_and_syncing_stops(
    workspace, connected, sandbox_api, calls
):
    assert sandbox_api.post("/user/api-key/revoke").status_code == 200

    assert run_sync(workspace) == "invalid"

    assert connection_of(workspace).status == "invalid"
    later = timezone.now() + timedelta(days=1)
    assert not due(workspace, now=later)
    calls.clear()
    assert background.sync_dispatch(now=later) == 0
    assert calls == []


def test_a_spent_background_share_waits_until_it_frees_up(workspace, connected):
    connection = connection_of(workspace)
    TaislyRequest.objects.bulk_create(
        TaislyRequest(
            connection=connection,
            fingerprint=connection.key_fingerprint,
            kind=TaislyRequest.Kind.BACKGROUND,
            endpoint="GET /post/history",
            started_at=timezone.now() - timedelta(minutes=50),
        )
        for _ in range(25)
    )
    assert run_sync(workspace) == "budget"
    retry = state_of(workspace).sync_retry_at
    assert timedelta(minutes=9) < retry - timezone.now() <= timedelta(minutes=10, seconds=1)


# --- The schedule ----------------------------------------------------------------------------


def test_the_schedules_are_installed_once(db):
    ensure_schedules()
    ensure_schedules()
    sync = Schedule.objects.get(name=SYNC_SCHEDULE)
    assert (sync.func, sync.schedule_type, sync.minutes) == ("posting.tasks.sync_dispatch", "I", 1)
    assert Schedule.objects.filter(name=LEDGER_SCHEDULE).count() == 1


def test_a_shorter_dispatch_interval_brings_the_schedule_forward(db, settings):
    ensure_schedules()
    settings.SYNC_DISPATCH_SECONDS = 5
    tasks.sync_dispatch()
    next_run = Schedule.objects.get(name=SYNC_SCHEDULE).next_run
    assert next_run <= timezone.now() + timedelta(seconds=5)


def test_connect_keeps_a_first_sync_due(workspace, alice, taisly):
    account = taisly.create_account()
    keys.connection_connect(workspace=workspace, api_key=account["api_key"], plan=None, actor=alice)
    assert due(workspace)


@pytest.mark.parametrize(
    "plan,sharing", [("STARTER", 1), ("PRO", 1), ("STARTER", 3), ("INFLUENCER", 6), ("PRO", 30)]
)
def test_a_workspace_synced_on_its_own_cadence_is_never_called_stale(settings, plan, sharing):
    """A key held by several workspaces is read less often for each: staleness is measured
    against that longer period (review: the meter and health used the unshared one)."""
    import math

    from posting.mirror.background import next_sync_at, stale_after

    settings.SYNC_IDLE_SHARE, settings.SYNC_FIRST_SECONDS = 0.25, 20
    settings.SYNC_DISPATCH_SECONDS = 60
    now = timezone.now()
    when = next_sync_at(
        synced_at=now, last_event=None, retry_at=None, plan=plan, now=now, sharing=sharing
    )
    minute = timedelta(seconds=settings.SYNC_DISPATCH_SECONDS)
    synced_next = now + math.ceil((when - now) / minute) * minute
    oldest_on_schedule = synced_next - now - timedelta(seconds=1)
    assert oldest_on_schedule < stale_after(plan, sharing=sharing)
