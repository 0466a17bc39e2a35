"""The quota meter on every workspace page: its figures, its red state, its fixed query count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import TaislyConnection
from posting.models import MirrorState, TaislyRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection(workspace):
    return TaislyConnection.objects.create(
        workspace=workspace,
        api_key="taisly_" + "a" * 64,
        key_hint="taisly_…aaaa",
        key_fingerprint="f" * 64,
        plan=TaislyConnection.Plan.STARTER,
    )


def fill(connection, count, *, kind="interactive", ago=timedelta(minutes=20)):
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


def meter(client, workspace):
    return client.get(f"/w/{workspace.code}/quota/", HTTP_HX_REQUEST="true")


def test_it_shows_this_hours_use_of_which_background_and_when_one_frees_up(
    login, alice, workspace, connection
):
    fill(connection, 7, ago=timedelta(minutes=50))
    fill(connection, 3, kind="background")
    fill(connection, 40, ago=timedelta(hours=2))  # out of the hour
    frees = timezone.localtime(timezone.now() + timedelta(minutes=10)).strftime("%H:%M")

    body = meter(login(alice), workspace).content.decode()

    assert "Taisly requests this hour: 10 of 50" in body
    assert "(3 by background sync)" in body
    assert f"next frees up at {frees}" in body
    assert 'hx-trigger="every 45s"' in body
    assert "quota-blocked" not in body


def test_it_is_red_while_blocked_with_the_time_it_ends(login, vera, workspace, connection):
    until = timezone.now() + timedelta(minutes=12)
    TaislyConnection.objects.filter(pk=connection.pk).update(blocked_until=until)

    body = meter(login(vera), workspace).content.decode()

    assert "is-blocked" in body and "is-danger" in body
    assert f"Rate-limited by Taisly until {timezone.localtime(until):%H:%M}" in body


def test_a_key_blocked_in_another_workspace_shows_here_too(login, alice, workspace, connection):
    from accounts.models import Workspace

    other = Workspace.objects.create(name="Other", kind=Workspace.Kind.CLIENT)
    TaislyConnection.objects.create(
        workspace=other,
        api_key="taisly_" + "a" * 64,
        key_fingerprint=connection.key_fingerprint,
        blocked_until=timezone.now() + timedelta(minutes=5),
    )
    assert "quota-blocked" in meter(login(alice), workspace).content.decode()


def test_it_warns_when_history_is_stale_for_the_plan(login, alice, workspace, connection):
    MirrorState.objects.create(
        workspace=workspace, history_synced_at=timezone.now() - timedelta(hours=2)
    )
    assert "sync-stale" in meter(login(alice), workspace).content.decode()
    synced = timezone.now()
    MirrorState.objects.filter(workspace=workspace).update(history_synced_at=synced)
    body = meter(login(alice), workspace).content.decode()
    assert "sync-stale" not in body
    assert f"history synced at {timezone.localtime(synced):%H:%M}" in body


def test_it_says_when_the_background_sync_tries_again_after_an_outage(
    login, alice, workspace, connection
):
    retry = timezone.now() + timedelta(minutes=4)
    MirrorState.objects.create(
        workspace=workspace,
        history_synced_at=timezone.now(),
        sync_error="outage",
        sync_retry_at=retry,
    )
    body = meter(login(alice), workspace).content.decode()
    assert f"tries again at {timezone.localtime(retry):%H:%M}" in body


def test_without_a_key_it_says_nothing_is_counted(login, alice, workspace):
    assert "nothing is counted" in meter(login(alice), workspace).content.decode()


def test_every_workspace_page_loads_it_and_links_to_it_without_javascript(
    login, alice, workspace, connection
):
    body = login(alice).get(f"/w/{workspace.code}/").content.decode()
    assert f'hx-get="/w/{workspace.code}/quota/"' in body
    assert 'data-testid="quota-link"' in body


def test_its_own_page_lists_the_latest_requests(login, alice, workspace, connection):
    fill(connection, 3)
    response = login(alice).get(f"/w/{workspace.code}/quota/")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("GET /post/history") == 3
    assert 'data-testid="quota-strip"' not in body  # the page is the meter


def test_an_outsider_gets_404(login, charlie, workspace, connection):
    assert meter(login(charlie), workspace).status_code == 404


@pytest.mark.parametrize("rows", [10, 5000])
def test_its_query_count_does_not_grow_with_the_ledger(
    rows, login, alice, workspace, connection, django_assert_num_queries
):
    fill(connection, rows // 2)
    fill(connection, rows - rows // 2, ago=timedelta(days=2))
    client = login(alice)
    # 1 session, 2 user, 3 memberships + workspaces (access), 4 connection, 5 the hour's
    # counts, 6 the latest block of any connection holding the key, 7 the mirror state, 8 how
    # many connections hold the key (they split its idle share).
    with django_assert_num_queries(8):
        response = meter(client, workspace)
    assert response.status_code == 200
