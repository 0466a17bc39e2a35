"""The quota meter in the browser: htmx loads it into every workspace page, it turns red while
the key is blocked, and nothing scrolls sideways at 390 px. Screenshots: quota-*.png."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import TaislyConnection
from posting.models import MirrorState, TaislyRequest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _log_in(page: Page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


@pytest.fixture
def busy_key(workspace):
    connection = TaislyConnection.objects.create(
        workspace=workspace,
        api_key="taisly_" + "b" * 64,
        key_hint="taisly_…bbbb",
        key_fingerprint="e" * 64,
    )
    now = timezone.now()
    TaislyRequest.objects.bulk_create(
        TaislyRequest(
            connection=connection,
            fingerprint=connection.key_fingerprint,
            kind="background" if i % 3 == 0 else "interactive",
            endpoint="GET /post/history",
            status=200,
            started_at=now - timedelta(minutes=55 - i),
        )
        for i in range(42)
    )
    MirrorState.objects.create(workspace=workspace, history_synced_at=now - timedelta(minutes=5))
    return connection


@pytest.mark.parametrize("width", [1280, 390])
def test_the_meter_loads_on_a_workspace_page_and_turns_red_when_blocked(
    page: Page, live_server, alice, workspace, busy_key, screenshot_dir, width
):
    page.set_viewport_size({"width": width, "height": 900})
    _log_in(page, live_server, alice)
    page.goto(f"{live_server.url}/w/{workspace.code}/posts/")
    meter = page.get_by_test_id("quota-meter")
    expect(meter).to_contain_text("42 of 50")
    expect(meter).to_contain_text("14 by background sync")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=f"{screenshot_dir}/quota-{width}.png", full_page=False)

    TaislyConnection.objects.filter(pk=busy_key.pk).update(
        blocked_until=timezone.now() + timedelta(minutes=20)
    )
    page.reload()
    expect(page.get_by_test_id("quota-blocked")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=f"{screenshot_dir}/quota-blocked-{width}.png", full_page=False)
