"""The failure inbox across clients in the browser (Chromium) at 1280 and 390 px: both workspaces'
failures in one list, the workspace filter's checkboxes, each entry's link to its workspace's post
page, and opening a post takes it out of "not looked at yet". Screenshots go to
test-results/screenshots/failure-inbox-*.png."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts import services
from accounts.models import User
from posting.models import PostResult
from tests.polling import wait_until
from tests.posting.factories import make_platforms, make_post

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _log_in(page: Page, live_server, user: User) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


@pytest.fixture
def two_clients(db):
    now = timezone.now()
    owner = User.objects.create_user(email="owner@agency.test", password="a-long-enough-pass-42")
    outsider = User.objects.create_user(email="other@else.test", password="a-long-enough-pass-42")
    kopi = services.workspace_create(name="Kopi Senja", owner=owner)
    batik = services.workspace_create(name="Batik Nusantara", owner=owner)
    theirs = services.workspace_create(name="Someone Else", owner=outsider)
    kopi_post = make_post(
        kopi,
        make_platforms(kopi, ["TikTok", "Instagram"]),
        {"TikTok": "SUCCESS", "Instagram": "FAILED:SANDBOX_FORCED_FAILURE"},
        description="Promo senja #fail:Instagram",
        due_at=now - timedelta(hours=2),
    )
    make_post(
        batik,
        make_platforms(batik, ["X"]),
        {"X": "FAILED:DESCRIPTION_TOO_LONG"},
        description="Koleksi batik tulis terbaru",
        due_at=now - timedelta(days=1),
    )
    make_post(
        theirs,
        make_platforms(theirs, ["TikTok"]),
        {"TikTok": "FAILED:X"},
        description="Not the agency's",
    )
    return owner, kopi, batik, kopi_post


def test_one_inbox_over_two_workspaces(page: Page, live_server, two_clients, screenshot_dir):
    owner, kopi, batik, kopi_post = two_clients
    _log_in(page, live_server, owner)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/")
        page.get_by_test_id("home-failure-inbox").click()
        entries = page.get_by_test_id("failure-entry")
        expect(entries).to_have_count(2)
        expect(entries.nth(0)).to_contain_text("Kopi Senja")
        expect(entries.nth(0)).to_contain_text("The sandbox failed this platform on purpose")
        expect(entries.nth(1)).to_contain_text("Batik Nusantara")
        expect(entries.nth(1)).to_contain_text("longer than this network allows")
        expect(page.get_by_text("Not the agency's")).to_have_count(0)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=f"{screenshot_dir}/failure-inbox-{width}.png", full_page=True)

    # Only Batik: tick its box, filter (a GET form: the URL says it).
    page.get_by_test_id("filter-workspace").filter(has_text="Batik Nusantara").locator(
        "input"
    ).check()
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(f"{live_server.url}/failures/?w={batik.code}&show=all")
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text("Koleksi batik")

    # Opening Kopi's post (its workspace's page, where retry lives) marks it looked at.
    page.goto(f"{live_server.url}/failures/?show=unseen")
    expect(entries).to_have_count(2)
    entries.filter(has_text="Promo senja").get_by_test_id("failure-link").click()
    expect(page).to_have_url(f"{live_server.url}/w/{kopi.code}/posts/{kopi_post.code}/")
    unseen = PostResult.objects.filter(post=kopi_post, seen_at__isnull=True, status="FAILED")
    wait_until(lambda: not unseen.exists(), what="the post page's 'seen' post-back")
    page.goto(f"{live_server.url}/failures/?show=unseen")
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text("Batik Nusantara")
