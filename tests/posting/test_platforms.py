"""The connected accounts page: from the mirror, gone ones apart, "Sync now" against the sandbox."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from posting.connection import keys
from posting.models import Platform
from tests.posting.sandbox_posts import *  # noqa: F403

pytestmark = pytest.mark.django_db


def url(workspace, name="posting:platforms") -> str:
    return reverse(name, kwargs={"code": workspace.code})


def test_it_lists_each_account_with_icon_name_id_and_status(
    workspace, alice, taisly, sandbox, login
):
    account = sandbox.create_account(platforms=["TikTok", "X"], disconnected=["X"])
    keys.connection_connect(workspace=workspace, api_key=account["api_key"], plan=None, actor=alice)
    Platform.objects.create(
        workspace=workspace,
        taisly_id="old1",
        network="Facebook",
        name="@old",
        gone_at=timezone.now(),
    )

    html = login(alice).get(url(workspace)).content.decode()

    assert "/static/img/networks/tiktok.svg" in html and "/static/img/networks/x.svg" in html
    assert "@demo_tiktok" in html and account["platforms"][0]["_id"] in html
    assert html.count('data-testid="platform"') == 2
    assert "Disconnected" in html and "Reconnect it in Taisly" in html
    assert "No longer in Taisly" in html and "@old" in html
    assert 'data-testid="platform-gone"' in html
    assert "Last synced with Taisly:" in html
    assert "Sync now (1 Taisly request)" in html


def test_without_a_key_it_says_there_is_nothing_to_show(workspace, alice, login):
    html = login(alice).get(url(workspace)).content.decode()

    assert "no working Taisly key" in html
    assert 'data-testid="sync-now"' not in html


def test_a_key_without_social_accounts_explains_how_to_connect_them(
    workspace, alice, taisly, sandbox, login
):
    account = sandbox.create_account(platforms=[])
    keys.connection_connect(workspace=workspace, api_key=account["api_key"], plan=None, actor=alice)

    html = login(alice).get(url(workspace)).content.decode()

    assert "No social accounts are connected to this Taisly account yet." in html
    assert "Connect TikTok, Instagram, YouTube, X or Facebook there." in html


def test_sync_now_reads_the_list_with_one_request(workspace, alice, connected, login, calls):
    Platform.objects.filter(workspace=workspace, network="YouTube").update(name="@stale")

    response = login(alice).post(url(workspace, "posting:platforms_sync"), follow=True)

    assert [c.endpoint for c in calls] == ["GET /platform/platforms"]
    html = response.content.decode()
    assert "Synced with Taisly: 5 social accounts." in html
    assert "@stale" not in html and "@demo_youtube" in html


def test_a_failing_sync_says_why(workspace, alice, connected, sandbox, login):
    sandbox.fault("429", retryAfter=300)

    response = login(alice).post(url(workspace, "posting:platforms_sync"), follow=True)

    assert response.status_code == 200
    assert "Try again in about 5 minutes. Nothing was synced." in response.content.decode()


def test_a_viewer_reads_but_cannot_sync(workspace, vera, connected, login, calls):
    client = login(vera)

    html = client.get(url(workspace)).content.decode()
    assert "@demo_tiktok" in html and 'data-testid="sync-now"' not in html
    assert client.post(url(workspace, "posting:platforms_sync")).status_code == 403
    assert calls == []


def test_the_page_runs_a_fixed_number_of_queries(
    workspace, alice, login, django_assert_num_queries
):
    for i in range(30):
        Platform.objects.create(workspace=workspace, taisly_id=f"p{i}", network="TikTok")
    client = login(alice)
    # 1 session, 2 user, 3 memberships (access and navigation), 4 platforms, 5 connection,
    # 6 mirror state.
    with django_assert_num_queries(6):
        response = client.get(url(workspace))
    assert response.content.decode().count('data-testid="platform"') == 30
