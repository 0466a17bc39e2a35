"""The agency overview (home): a person's workspaces, the one needing attention first, with
every figure in a fixed number of queries whatever the number of workspaces."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from allauth.mfa.totp.internal.auth import TOTP
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, TaislyConnection, Workspace
from posting.models import Alert, AlertRead, MirrorState, Post, TaislyRequest
from posting.reporting import health
from tests.posting.factories import make_platforms, make_post
from tests.posting.health_fixtures import grow

pytestmark = pytest.mark.django_db


def _client_workspace(owner, name: str, **connection) -> Workspace:
    workspace = Workspace.objects.create(name=name)
    Membership.objects.create(workspace=workspace, user=owner, role=Membership.Role.OWNER)
    if connection is not None:
        TaislyConnection.objects.create(
            workspace=workspace, key_hint="taisly_…0000", key_fingerprint=f"fp-{name}", **connection
        )
    MirrorState.objects.create(workspace=workspace, history_synced_at=timezone.now())
    return workspace


def _names(page: str) -> list[str]:
    return [
        part.split(">", 1)[1].split("<", 1)[0]
        for part in page.split('data-testid="health-name"')[1:]
    ]


def test_an_agency_owner_sees_only_their_workspaces_in_attention_order(alice, charlie, login):
    now = timezone.now()
    fine = _client_workspace(alice, "A fine")
    stale = _client_workspace(alice, "B stale")
    MirrorState.objects.filter(workspace=stale).update(history_synced_at=now - timedelta(days=2))
    blocked = _client_workspace(alice, "C blocked", blocked_until=now + timedelta(minutes=20))
    failing = _client_workspace(alice, "D failing")
    make_post(failing, make_platforms(failing, ["TikTok"]), {"TikTok": "FAILED:CODE"})
    invalid = _client_workspace(alice, "E invalid", status=TaislyConnection.Status.INVALID)
    someone_elses = _client_workspace(charlie, "F not alice's")
    make_post(someone_elses, make_platforms(someone_elses, ["X"]), {"X": "FAILED:CODE"})

    page = login(alice).get(reverse("home")).content.decode()
    names = _names(page)
    assert "F not alice" not in page
    assert names[:4] == ["E invalid", "D failing", "C blocked", "B stale"]
    # Acme and Alice's personal workspace have no key: nothing to be stale; they sort as fine.
    assert names[4:] == ["A fine", "Acme", "Alice"]
    for workspace in (fine, stale, blocked, failing, invalid):
        assert reverse("accounts:workspace", kwargs={"code": workspace.code}) in page


def test_the_figures_of_a_row(alice, workspace, login):
    now = timezone.now()
    TaislyConnection.objects.create(
        workspace=workspace, key_hint="taisly_…a1b2", key_fingerprint="fp-shared"
    )
    platforms = make_platforms(workspace, ["TikTok", "X"])
    make_post(workspace, platforms, {"TikTok": "SUCCESS", "X": "FAILED:CODE"}, due_at=now)
    make_post(workspace, platforms, {"TikTok": "SUCCESS"}, due_at=now - timedelta(days=2))
    # Stuck: still pending an hour after it was due.
    make_post(workspace, platforms, {"X": "PENDING"}, due_at=now - timedelta(hours=1))
    # Out of the week: not counted.
    make_post(workspace, platforms, {"TikTok": "FAILED:OLD"}, due_at=now - timedelta(days=9))
    upcoming = make_post(workspace, platforms, {}, due_at=now + timedelta(hours=3))
    # Requests of another workspace holding the same key count against this one's hour.
    TaislyRequest.objects.create(fingerprint="fp-shared", endpoint="history", status=200)
    TaislyRequest.objects.create(
        fingerprint="fp-shared", endpoint="history", started_at=now - timedelta(hours=2)
    )
    alert = Alert.objects.create(workspace=workspace, kind=Alert.Kind.BLOCKED)
    Alert.objects.create(workspace=workspace, post=upcoming, kind=Alert.Kind.NEEDS_CHECK)
    AlertRead.objects.create(alert=alert, user=alice)

    row = health.with_health(Workspace.objects.filter(pk=workspace.pk), user=alice).get()
    # The query runs a moment after `now`: "posts in the last 7 days" ends at its own now.
    assert row.posts_week == 3
    assert (row.success_week, row.failed_week) == (2, 1)
    assert round(row.success_rate) == 67
    assert row.stuck == 1 and row.quota_used == 1 and row.unread_alerts == 1
    assert row.next_post_at == upcoming.due_at
    assert row.attention == health.ATTENTION_FAILURES
    assert row.owner_email == "alice@example.test"
    sparks = health.sparklines([workspace.pk], tz=timezone.get_current_timezone())
    assert sparks[workspace.pk].total == 4 and len(sparks[workspace.pk].counts) == 14

    page = login(alice).get(reverse("home")).content.decode()
    assert 'role="img"' in page and "4 posts in the last 14 days" in page
    assert "1 / 50" in page  # the hour's requests against the STARTER limit


def _row_of(page: str, name: str) -> str:
    rows = [row for row in page.split("<tr ")[1:] if f'data-testid="health-name">{name}<' in row]
    assert len(rows) == 1, name
    return rows[0].split("</tr>", 1)[0]


def test_a_workspace_asking_for_two_factor_shows_none_of_its_figures_without_it(alice, login):
    now = timezone.now()
    locked = _client_workspace(alice, "A locked", blocked_until=now + timedelta(minutes=20))
    Workspace.objects.filter(pk=locked.pk).update(require_2fa=True)
    platforms = make_platforms(locked, ["TikTok", "X"])
    make_post(locked, platforms, {"TikTok": "SUCCESS", "X": "FAILED:SECRET_CODE"}, due_at=now)
    make_post(locked, platforms, {}, due_at=now + timedelta(hours=3))
    Alert.objects.create(workspace=locked, kind=Alert.Kind.BLOCKED)
    TaislyRequest.objects.create(fingerprint="fp-A locked", endpoint="history", status=200)
    _client_workspace(alice, "B fine")
    client = login(alice)

    page = client.get(reverse("home")).content.decode()

    row = _row_of(page, "A locked")
    assert 'data-testid="health-row-locked"' in row
    assert "Set up two-factor to see this workspace" in row
    assert f'href="{reverse("mfa_index")}"' in row
    # Nothing of how it is doing: no figures, no attention, no sparkline, no link to open it.
    for figure in ("data-attention", "sparkline", "%", "/ 50", "next", "Blocked", "Failed"):
        assert figure not in row, figure
    assert not re.search(r"\d", re.sub(r"<[^>]*>", "", row)), row  # no number at all
    # Failing and blocked, it would come first; locked, it comes last (its place says nothing).
    assert _names(page)[-1] == "A locked"

    # With two-factor on, the same member sees it all, first.
    TOTP.activate(alice, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    page = client.get(reverse("home")).content.decode()
    row = _row_of(page, "A locked")
    assert 'data-testid="health-row"' in row and "Set up two-factor" not in row
    assert "1 / 50" in row and 'role="img"' in row
    assert _names(page)[0] == "A locked"


@pytest.mark.parametrize("path", ["home"])
def test_the_overview_runs_the_same_queries_for_5_and_500_workspaces(
    path, alice, login, django_assert_num_queries
):
    client = login(alice)
    grow(5, owner=alice)
    client.get(reverse(path))
    for total in (5, 500):
        grow(total - Workspace.objects.filter(name__startswith="Client ").count(), owner=alice)
        # Some ask for two-factor sign-in, which alice has not set up: shown locked, same queries.
        clients = Workspace.objects.filter(name__startswith="Client ").order_by("pk")
        half = list(clients.values_list("pk", flat=True)[: total // 2])
        Workspace.objects.filter(pk__in=half).update(require_2fa=True)
        # 1 session, 2 user, 3 keys shared by several workspaces (their staleness), 4 count,
        # 5 the page of workspaces with every figure (one SELECT of correlated subqueries),
        # 6 the page's sparklines, 7 navigation memberships, 8 posts waiting for her review.
        with django_assert_num_queries(8):
            page = client.get(reverse(path)).content.decode()
        # Rows and locked rows, with Acme and her personal one.
        assert page.count('data-testid="health-row') == min(total + 2, 50)
        # Locked ones come last: all of them on one page of 7, none on the first page of 502.
        open_rows = total - len(half) + 2
        locked_shown = min(len(half), max(0, 50 - open_rows))
        assert page.count('data-testid="health-row-locked"') == locked_shown


def test_on_a_phone_the_rows_stack_as_cards(alice, workspace, login):
    page = login(alice).get(reverse("home")).content.decode()
    assert "is-stacked-mobile health-table" in page
    assert 'data-label="Posts (7 days)"' in page


def test_a_cancelled_post_counts_for_nothing(alice, workspace):
    platforms = make_platforms(workspace, ["TikTok"])
    make_post(workspace, platforms, {"TikTok": "FAILED:X"}, state=Post.State.CANCELLED)
    row = health.with_health(Workspace.objects.filter(pk=workspace.pk), user=alice).get()
    assert (row.posts_week, row.failed_week, row.stuck) == (0, 0, 0)


def test_a_key_shared_by_two_workspaces_is_stale_only_after_their_longer_period(alice, settings):
    """Two workspaces on one Starter key each read history every ~10 minutes (they split the
    key's idle share): 18 minutes since a sync is on schedule for them, stale for a key alone."""
    settings.SYNC_IDLE_SHARE, settings.SYNC_DISPATCH_SECONDS = 0.25, 60
    ago = timezone.now() - timedelta(minutes=18)
    shared = [_client_workspace(alice, name) for name in ("Shared one", "Shared two")]
    alone = _client_workspace(alice, "Alone")
    TaislyConnection.objects.filter(workspace__in=shared).update(key_fingerprint="fp-one-key")
    MirrorState.objects.filter(workspace__in=[*shared, alone]).update(history_synced_at=ago)

    rows = {
        w.name: w.is_stale
        for w in health.with_health(Workspace.objects.filter(name__in=["Shared one", "Alone"]))
    }

    assert rows == {"Shared one": False, "Alone": True}
