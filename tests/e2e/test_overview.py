"""The agency overview and the charts in the browser at 1280 and 390 px: rows become cards on
a phone, charts scale to its width, nothing scrolls sideways. Screenshots go to
test-results/screenshots/overview-*.png and charts-*.png."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts import services
from accounts.models import TaislyConnection, User
from posting.models import MirrorState, TaislyRequest
from tests.posting.factories import make_platforms, make_post

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTHS = (1280, 390)
LONG_NAME = ("KopiSenjaNusantaraSejahtera" * 4)[:100]


def _log_in(page: Page, live_server, user: User) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


@pytest.fixture
def agency(db):
    now = timezone.now()
    owner = User.objects.create_user(
        email="agency-owner@agency-example.test", password="a-long-enough-pass-42"
    )
    staff = User.objects.create_user(
        email="staff@example.test", password="a-long-enough-pass-42", is_staff=True
    )
    made = {}
    for i, name in enumerate(["Bakso Bros", "Warung Kita", LONG_NAME, "Teh Manis"]):
        workspace = services.workspace_create(name=name, owner=owner)
        connection = TaislyConnection.objects.create(
            workspace=workspace,
            key_hint=f"taisly_…{i:04d}",
            key_fingerprint=f"fp-{i}",
            status="invalid" if name == "Teh Manis" else "active",
            blocked_until=now + timedelta(minutes=30) if name == "Warung Kita" else None,
        )
        MirrorState.objects.create(workspace=workspace, history_synced_at=now)
        platforms = make_platforms(workspace)
        for day in range(0, 30, 1 + i):
            outcome = "FAILED:MEDIA_REJECTED" if day % 4 == 0 else "SUCCESS"
            make_post(
                workspace,
                platforms,
                {"TikTok": "SUCCESS", "Instagram": outcome, "X": "SUCCESS"},
                due_at=now - timedelta(days=day, hours=1),
            )
        make_post(workspace, platforms, {}, due_at=now + timedelta(hours=5 + i))
        TaislyRequest.objects.bulk_create(
            TaislyRequest(
                connection=connection,
                fingerprint=connection.key_fingerprint,
                endpoint="history",
                status=429 if h == 2 else 200,
                started_at=now - timedelta(hours=h, minutes=5),
            )
            for h in range(24)
            for _ in range((h * 7 + i) % 9)
        )
        made[name] = workspace
    return owner, staff, made


def _no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_overview_and_the_charts_fit_1280_and_390(
    page: Page, live_server, agency, screenshot_dir
):
    owner, staff, made = agency
    _log_in(page, live_server, owner)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/")
        rows = page.get_by_test_id("health-row")
        expect(rows).to_have_count(5)  # four clients and the owner's personal workspace
        # The invalid key first, then the failures nobody has looked at.
        expect(rows.first).to_contain_text("Teh Manis")
        expect(rows.first.get_by_test_id("attention")).to_have_text("Key no longer works")
        sparkline = rows.first.locator("svg.sparkline")
        expect(sparkline).to_be_visible()
        if width == 390:
            # A card: the cells are stacked blocks, each headed by its column's name.
            cell = rows.first.locator("td").nth(3)
            assert cell.evaluate("el => getComputedStyle(el).display") == "block"
            assert rows.first.bounding_box()["width"] <= width
        _no_sideways_scroll(page)
        page.screenshot(path=f"{screenshot_dir}/overview-{width}.png", full_page=True)

        page.goto(f"{live_server.url}/w/{made['Bakso Bros'].code}/charts/")
        charts = page.locator("figure.chart > svg")
        expect(charts).to_have_count(3)
        for i in range(3):
            box = charts.nth(i).bounding_box()
            assert 0 < box["width"] <= width and box["height"] > 40
        expect(page.get_by_test_id("networks-table")).to_contain_text("Instagram")
        _no_sideways_scroll(page)
        page.screenshot(path=f"{screenshot_dir}/charts-{width}.png", full_page=True)

    page.context.clear_cookies()
    _log_in(page, live_server, staff)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in {
            "oversight": "/oversight/",
            "oversight-failures": "/oversight/failures/",
            "oversight-quota": "/oversight/quota/",
            "oversight-charts": "/oversight/charts/",
        }.items():
            response = page.goto(f"{live_server.url}{path}")
            assert response.status == 200, name
            _no_sideways_scroll(page)
            page.screenshot(path=f"{screenshot_dir}/{name}-{width}.png", full_page=True)
        page.goto(f"{live_server.url}/oversight/failures/")
        expect(page.get_by_test_id("incident").first).to_be_visible()
