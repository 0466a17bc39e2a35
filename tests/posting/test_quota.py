"""posting.taisly.governor against the sandbox: the ledger records every call, the governor keeps
the budget.

The sandbox counts requests with its own sliding window (SANDBOX_RATE_WINDOW_SECONDS) and answers
429 past the plan's limit; the dashboard's governor counts its own ledger and refuses first. Time
travel: time-machine on the dashboard's clock, /control/clock on the sandbox's.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone, translation

from accounts.crypto import key_fingerprint
from accounts.models import Membership, TaislyConnection, Workspace
from posting.connection import keys
from posting.mirror.sync import history_sync, platforms_sync
from posting.models import TaislyRequest
from posting.taisly import governor as quota
from posting.taisly.gateway import TaislyActionError, taisly_for
from tests.posting.sandbox_posts import *  # noqa: F403

pytestmark = pytest.mark.django_db

Kind = TaislyRequest.Kind


@pytest.fixture(autouse=True)
def english():
    """The sentences are checked in English, whatever language an earlier test left active."""
    with translation.override("en"):
        yield


def connection_of(workspace) -> TaislyConnection:
    return TaislyConnection.objects.get(workspace=workspace)


def fill_ledger(connection, count, *, kind=Kind.INTERACTIVE, ago=timedelta(minutes=30)):
    """``count`` requests of the key, made ``ago``."""
    TaislyRequest.objects.bulk_create(
        TaislyRequest(
            connection=connection,
            fingerprint=connection.key_fingerprint,
            kind=kind,
            endpoint="GET /post/history",
            status=200,
            started_at=timezone.now() - ago,
        )
        for _ in range(count)
    )


def second_workspace(owner, name="Beta") -> Workspace:
    other = Workspace.objects.create(name=name, kind=Workspace.Kind.CLIENT)
    Membership.objects.create(workspace=other, user=owner, role=Membership.Role.OWNER)
    return other


# --- The ledger ------------------------------------------------------------------------------


def test_the_ledger_records_every_call_including_the_key_services(workspace, alice, taisly):
    account = taisly.create_account()
    keys.connection_connect(workspace=workspace, api_key=account["api_key"], plan=None, actor=alice)
    connection = connection_of(workspace)
    platforms_sync(workspace=workspace)
    history_sync(workspace=workspace)
    keys.connection_regenerate(workspace=workspace, actor=alice)
    keys.connection_revoke(workspace=workspace, actor=alice)

    rows = list(TaislyRequest.objects.order_by("started_at", "id"))
    assert [r.endpoint for r in rows] == [
        "GET /user/api-key",
        "GET /platform/platforms",
        "GET /platform/platforms",
        "GET /post/history",
        "POST /user/api-key/generate",
        "POST /user/api-key/revoke",
    ]
    assert all(r.done and r.status == 200 and r.duration_ms is not None for r in rows)
    assert all(r.kind == Kind.INTERACTIVE for r in rows)
    # A first connect's requests are counted against the connection it made.
    assert all(r.connection_id == connection.pk for r in rows)
    # Each against its key's budget: the regenerated key took over the hour of the key it
    # replaced (Taisly counts per account), and the revoke went out with it.
    original = key_fingerprint(account["api_key"])
    assert len({r.fingerprint for r in rows}) == 1
    assert rows[5].fingerprint not in ("", original)
    # Revoked: the fingerprint is forgotten with the key.
    assert connection_of(workspace).key_fingerprint == ""


def test_a_failed_call_is_recorded_with_its_status_and_code(workspace, connected, sandbox):
    sandbox.fault("500")

    with pytest.raises(TaislyActionError):
        history_sync(workspace=workspace)

    row = TaislyRequest.objects.latest("started_at")
    assert (row.endpoint, row.status, row.done) == ("GET /post/history", 500, True)
    assert row.error_code


def test_a_bare_client_call_is_recorded_too(workspace, connected):
    connection = connection_of(workspace)
    from posting.taisly import TaislyClient

    before = TaislyRequest.objects.count()
    with TaislyClient(connection.api_key, context=connection) as client:
        client.platforms()

    row = TaislyRequest.objects.latest("id")
    assert TaislyRequest.objects.count() == before + 1
    assert (row.connection_id, row.fingerprint) == (connection.pk, connection.key_fingerprint)


def test_background_work_is_counted_as_background(workspace, connected):
    with quota.background():
        history_sync(workspace=workspace)
    history_sync(workspace=workspace)

    kinds = list(TaislyRequest.objects.order_by("id").values_list("kind", flat=True))
    assert kinds[-2:] == [Kind.BACKGROUND, Kind.INTERACTIVE]


def test_old_rows_are_pruned(workspace, connected, settings):
    settings.LEDGER_RETAIN_DAYS = 7
    connection = connection_of(workspace)
    fill_ledger(connection, 3, ago=timedelta(days=8))
    fill_ledger(connection, 2, ago=timedelta(days=6))
    kept = TaislyRequest.objects.count() - 3

    assert quota.ledger_prune() == 3
    assert TaislyRequest.objects.count() == kept


# --- The governor ----------------------------------------------------------------------------


def test_background_is_refused_past_its_share_while_interactive_still_goes(
    workspace, connected, calls
):
    connection = connection_of(workspace)  # STARTER: 50 an hour, 25 for background
    fill_ledger(connection, 25, kind=Kind.BACKGROUND)
    calls.clear()

    with quota.background(), pytest.raises(TaislyActionError) as caught:
        history_sync(workspace=workspace)
    assert isinstance(caught.value.cause, quota.QuotaRefused)
    assert calls == []  # refused before any request

    history_sync(workspace=workspace)  # a person's "Sync now" still goes
    assert len(calls) == 1

    # An hour later the background share is free again.
    later = timezone.now() + timedelta(minutes=31)
    with time_machine.travel(later, tick=False), quota.background():
        history_sync(workspace=workspace)
    assert len(calls) == 2


def test_a_spent_hour_refuses_interactive_work_and_says_when_it_works_again(
    workspace, connected, calls
):
    connection = connection_of(workspace)
    fill_ledger(connection, 50, ago=timedelta(minutes=50))
    calls.clear()
    frees = timezone.localtime(TaislyRequest.objects.earliest("started_at").started_at)

    with pytest.raises(TaislyActionError) as caught:
        history_sync(workspace=workspace)

    assert calls == []
    message = caught.value.message
    assert "50 Taisly requests" in message
    assert (frees + timedelta(hours=1)).strftime("%H:%M") in message
    assert "minutes" in message


def test_the_governor_keeps_under_the_sandboxs_own_limit(workspace, connected, calls):
    """The sandbox answers 429 past 50 an hour; the governor refuses the 51st itself."""
    served = refused = 0
    for _ in range(60):
        try:
            with taisly_for(workspace) as client:
                client.key_info()
            served += 1
        except TaislyActionError as exc:
            assert isinstance(exc.cause, quota.QuotaRefused)
            refused += 1
    already = 2  # the connect's own two requests
    assert served == 50 - already and refused == 10 + already
    assert all(c.status == 200 for c in calls)  # never a 429 from the sandbox


def test_a_429_blocks_every_connection_sharing_the_key_until_retry_after(
    workspace, alice, connected, sandbox, calls, login
):
    other = second_workspace(alice)
    outcome = keys.connection_connect(
        workspace=other, api_key=connected["api_key"], plan=None, actor=alice
    )
    assert "already used by the workspace “Acme”" in outcome.message
    sandbox.fault("429", retryAfter=600)

    with pytest.raises(TaislyActionError, match="10 minutes"):
        history_sync(workspace=workspace)

    for ws in (workspace, other):
        assert connection_of(ws).blocked_until > timezone.now() + timedelta(minutes=9)
    calls.clear()
    with pytest.raises(TaislyActionError, match="works again at"):
        history_sync(workspace=other)
    assert calls == []

    # The page says until when.
    until = timezone.localtime(connection_of(other).blocked_until).strftime("%H:%M")
    page = login(alice).get(f"/w/{other.code}/quota/", HTTP_HX_REQUEST="true")
    assert page.status_code == 200
    assert f"Rate-limited by Taisly until {until}" in page.content.decode()

    # Revoking still goes while blocked (a leaked key must be stoppable).
    keys.connection_revoke(workspace=other, actor=alice)
    assert calls[-1].endpoint == "POST /user/api-key/revoke"

    assert connection_of(other).status == "revoked"

    # retryAfter later, the key works again.
    later = timezone.now() + timedelta(seconds=601)
    with time_machine.travel(later, tick=False), pytest.raises(TaislyActionError, match="accept"):
        history_sync(workspace=workspace)  # it was revoked meanwhile: Taisly says 401
    assert calls[-1].status == 401


def test_connections_sharing_a_key_share_its_budget(workspace, alice, charlie, connected, calls):
    other = second_workspace(charlie, name="Charlie's")
    outcome = keys.connection_connect(
        workspace=other, api_key=connected["api_key"], plan=None, actor=charlie
    )
    # Charlie is no member of Acme: it is not named to him.
    assert "already used by another workspace" in outcome.message
    assert "Acme" not in outcome.message
    first = connection_of(workspace)
    fill_ledger(first, 50 - TaislyRequest.objects.count())
    calls.clear()

    with pytest.raises(TaislyActionError, match="50 Taisly requests"):
        history_sync(workspace=other)
    assert calls == []


def test_a_connect_of_a_blocked_key_is_refused_before_any_request(
    workspace, alice, connected, sandbox, calls
):
    sandbox.fault("429", retryAfter=300)
    with pytest.raises(TaislyActionError):
        history_sync(workspace=workspace)
    calls.clear()

    with pytest.raises(keys.KeyActionError, match="Nothing was saved"):
        keys.connection_connect(
            workspace=second_workspace(alice), api_key=connected["api_key"], plan=None, actor=alice
        )
    assert calls == []


# Threads deciding at once on PostgreSQL: tests/posting/test_quota_processes.py.


# --- Taisly's own limit, spent outside the dashboard -----------------------------------------


@pytest.fixture(scope="module")
def short_window_sandbox(tmp_path_factory):
    """A sandbox whose rate window is two minutes, so its retryAfter is short."""
    from tests.sandbox_server import SandboxServer

    server = SandboxServer(tmp_path_factory.mktemp("short-window"), rate_window_seconds=120)
    server.start()
    yield server
    server.stop()


def test_a_429_from_requests_made_elsewhere_blocks_both_holders_until_retry_after(
    workspace, alice, settings, short_window_sandbox, login
):
    """Requests made with the key outside the dashboard (Taisly's app, the Agent Kit) spend
    Taisly's hour without the ledger seeing them: the first 429 blocks every holder of the key
    for the retryAfter Taisly gives, and the pages say until when."""
    from tests.sandbox.conftest import Api

    sandbox = short_window_sandbox
    settings.TAISLY_BASE_URL = sandbox.base_url
    account = sandbox.create_account()
    keys.connection_connect(workspace=workspace, api_key=account["api_key"], plan=None, actor=alice)
    other = second_workspace(alice)
    keys.connection_connect(workspace=other, api_key=account["api_key"], plan=None, actor=alice)
    outside = Api(sandbox.base_url, account["api_key"])
    while outside.get("/user/api-key").status_code != 429:
        pass  # the Agent Kit, say, spends the rest of the hour
    assert TaislyRequest.objects.count() == 4  # the ledger saw only the two connects

    with pytest.raises(TaislyActionError) as caught:
        history_sync(workspace=workspace)

    assert caught.value.cause.status == 429
    until = connection_of(workspace).blocked_until
    assert timezone.now() < until <= timezone.now() + timedelta(seconds=121)
    assert connection_of(other).blocked_until == until
    body = login(alice).get(f"/w/{other.code}/quota/", HTTP_HX_REQUEST="true").content.decode()
    assert f"Rate-limited by Taisly until {timezone.localtime(until):%H:%M}" in body

    # Both clocks move past retryAfter: the key works again, from either workspace.
    sandbox.advance(125)
    with time_machine.travel(timezone.now() + timedelta(seconds=125), tick=False):
        history_sync(workspace=other)
    assert TaislyRequest.objects.filter(status=429).count() == 1


# --- A new key for the same connection -------------------------------------------------------


def _spend(workspace, calls: int) -> None:
    for _ in range(calls):
        with taisly_for(workspace) as client:
            client.key_info()


def test_a_regenerated_key_takes_over_the_hours_count(
    workspace, alice, connected, sandbox, login, calls
):
    """Taisly counts per account, so a new key does not reset its hour (the sandbox agrees:
    tests/sandbox/test_rate_limit.py). The governor carries the hour over the regenerate and
    refuses the 51st request itself, instead of letting Taisly answer 429 and block the key."""
    from tests.sandbox.conftest import Api

    _spend(workspace, 47)  # with the connect's two: 49 of STARTER's 50
    old = key_fingerprint(connected["api_key"])
    assert TaislyRequest.objects.filter(fingerprint=old).count() == 49

    response = login(alice).post(reverse("taisly:regenerate", kwargs={"code": workspace.code}))

    assert response.status_code == 302
    connection = connection_of(workspace)
    assert connection.key_fingerprint not in ("", old)
    assert quota.budget_for(connection).used == 50  # the regenerate itself was the 50th
    calls.clear()
    with pytest.raises(TaislyActionError, match="made its 50 Taisly requests"):
        history_sync(workspace=workspace)
    assert calls == []  # refused here: nothing reached Taisly, so no 429 and no block
    assert connection_of(workspace).blocked_until is None
    # Taisly's own count: the account's hour is indeed spent, whichever key asks.
    assert Api(sandbox.base_url, connection.api_key).get("/user/api-key").status_code == 429


def test_a_key_replaced_by_a_connect_takes_over_the_hours_count(
    workspace, alice, connected, sandbox_api, login
):
    """The stored key was regenerated on Taisly's own site (so it is dead here) and the owner
    pastes the new one: the same connection, rotated; its hour goes on."""
    _spend(workspace, 10)  # with the connect's two: 12
    new_key = sandbox_api.post("/user/api-key/generate").json()["data"]["apiKey"]

    response = login(alice).post(
        reverse("taisly:connect", kwargs={"code": workspace.code}),
        {"api_key": new_key, "plan": ""},
    )

    assert response.status_code == 302
    connection = connection_of(workspace)
    assert connection.key_fingerprint == key_fingerprint(new_key)
    assert quota.budget_for(connection).used == 12 + 2  # and the new key's own two checks


def test_a_replaced_key_another_workspace_still_holds_keeps_its_count(
    workspace, alice, connected, taisly, login
):
    """Another workspace still uses the old key: its budget keeps those requests (and the new
    key may be another account's), so nothing is carried."""
    other = second_workspace(alice)
    keys.connection_connect(workspace=other, api_key=connected["api_key"], plan=None, actor=alice)
    _spend(workspace, 6)  # 2 + 2 connects, 6 calls
    another = taisly.create_account()

    login(alice).post(
        reverse("taisly:connect", kwargs={"code": workspace.code}),
        {"api_key": another["api_key"], "plan": ""},
    )

    assert quota.budget_for(connection_of(workspace)).used == 2
    assert quota.budget_for(connection_of(other)).used == 10
