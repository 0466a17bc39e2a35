"""No page of a workspace, and no oversight page, is wider than a 390 px phone, even with a
workspace name of 100 characters (the most the field holds); at 1280 px the long name is cut
with an ellipsis and the rest of the top bar stays in view.

Screenshots of every page at both widths go to test-results/screenshots/width-*.png.
"""

from __future__ import annotations

import secrets

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from playwright.sync_api import Page, expect

from accounts import services
from accounts.models import Membership, TaislyConnection, User, Workspace
from tests.personas import make_fresh, verify

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The worst case: 100 characters with no space to break at.
LONG_NAME = ("KopiSenjaNusantaraSejahtera" * 4)[:100]
PHONE, DESKTOP = 390, 1280


def _log_in(page: Page, live_server, user: User) -> None:
    """The session cookie of a logged-in test client: independent of how the login page looks."""
    client = Client()
    client.force_login(user)
    make_fresh(client, user)  # the key pages ask for the password again otherwise
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


@pytest.fixture
def long_workspace(db):
    owner = verify(  # only a confirmed address invites
        User.objects.create_user(
            email="owner-with-a-rather-long-address@agency-example.test",
            password="a-long-enough-pass-42",
            display_name="Olivia Owner-Withalongname",
        )
    )
    workspace = services.workspace_create(name=LONG_NAME, owner=owner)
    assert len(workspace.name) == Workspace._meta.get_field("name").max_length == 100
    viewer = User.objects.create_user(
        email="client-viewer@client-example.test", password="a-long-enough-pass-42"
    )
    Membership.objects.create(workspace=workspace, user=viewer, role=Membership.Role.VIEWER)
    services.invitation_create(
        workspace=workspace,
        email="someone-invited-with-a-long-address@example.test",
        role=Membership.Role.EDITOR,
        inviter=owner,
        request=RequestFactory().get("/"),
    )
    key = "taisly_" + secrets.token_hex(32)
    TaislyConnection.objects.create(
        workspace=workspace, api_key=key, key_hint=f"taisly_…{key[-4:]}", connected_by=owner
    )
    staff = User.objects.create_user(
        email="staff@example.test", password="a-long-enough-pass-42", is_staff=True
    )
    return workspace, owner, staff


def _pages(workspace: Workspace) -> dict[str, str]:
    w = f"/w/{workspace.code}"
    return {
        "home": "/",
        "overview": f"{w}/",
        "members": f"{w}/members/",
        "invite": f"{w}/members/invite/",
        "key": f"{w}/taisly/",
        "key-connect": f"{w}/taisly/connect/",
        "key-revoke": f"{w}/taisly/revoke/",
        "audit": f"{w}/audit/",
        "settings": f"{w}/settings/",
        "delete": f"{w}/delete/",
        "profile": "/profile/",
        "charts": f"{w}/charts/",
        "queue": f"{w}/queue/",
        "slots": f"{w}/queue/slots/",
    }


def _oversight_pages(workspace: Workspace) -> dict[str, str]:
    return {
        "oversight": "/oversight/",
        "oversight-audit": "/oversight/audit/",
        "oversight-audit-one": f"/oversight/audit/?workspace={workspace.code}",
        "oversight-audit-search": "/oversight/audit/?actor=owner&action=workspace.created",
        "oversight-failures": "/oversight/failures/",
        "oversight-quota": "/oversight/quota/",
        "oversight-charts": "/oversight/charts/",
        "oversight-filtered": "/oversight/?plan=STARTER&key=active&q=Kopi",
        "staff-view": f"/w/{workspace.code}/members/",
    }


def _too_wide(page: Page) -> list[str]:
    """The elements that reach past the right edge of the viewport (empty when nothing does)."""
    return page.evaluate(
        """() => {
          const width = window.innerWidth;
          if (document.documentElement.scrollWidth <= width) return [];
          return [...document.querySelectorAll('body *')]
            .filter(el => el.getBoundingClientRect().right > width + 0.5)
            .slice(0, 8)
            .map(el => el.tagName.toLowerCase() + '.' + [...el.classList].join('.'));
        }"""
    )


def _visit_all(page: Page, live_server, pages: dict[str, str], screenshot_dir: str) -> None:
    width = page.viewport_size["width"]
    for name, path in pages.items():
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, (name, response.status)
        page.screenshot(path=f"{screenshot_dir}/width-{width}-{name}.png", full_page=True)
        assert _too_wide(page) == [], f"{name} ({path}) is wider than {width} px"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name


def test_no_workspace_or_oversight_page_is_wider_than_a_phone(
    page: Page, live_server, long_workspace, screenshot_dir
):
    workspace, owner, staff = long_workspace
    page.set_viewport_size({"width": PHONE, "height": 844})
    _log_in(page, live_server, owner)
    _visit_all(page, live_server, _pages(workspace), screenshot_dir)

    # The menu opened on the phone: the long name is cut, not pushed sideways.
    page.goto(f"{live_server.url}/w/{workspace.code}/")
    page.get_by_test_id("nav-burger").click()
    expect(page.get_by_test_id("current-user")).to_be_visible()
    assert _too_wide(page) == []
    page.screenshot(path=f"{screenshot_dir}/width-{PHONE}-menu-open.png", full_page=True)

    page.context.clear_cookies()
    _log_in(page, live_server, staff)
    _visit_all(page, live_server, _oversight_pages(workspace), screenshot_dir)


def test_a_long_workspace_name_is_cut_in_the_top_bar_and_kept_in_a_tooltip(
    page: Page, live_server, long_workspace, screenshot_dir
):
    workspace, owner, staff = long_workspace
    page.set_viewport_size({"width": DESKTOP, "height": 860})
    _log_in(page, live_server, owner)
    _visit_all(page, live_server, _pages(workspace), screenshot_dir)

    page.goto(f"{live_server.url}/w/{workspace.code}/settings/")
    navbar = page.get_by_role("navigation", name="Main navigation")
    switcher = page.get_by_test_id("workspace-switcher").locator(".navbar-link")
    expect(switcher).to_have_attribute("title", LONG_NAME)
    current = switcher.locator(".workspace-name")
    assert page.evaluate(
        "el => getComputedStyle(el).textOverflow === 'ellipsis' && el.scrollWidth > el.clientWidth",
        current.element_handle(),
    )
    # The "Manage" menu and the user menu stay on the bar, inside the window, and no item of
    # the bar runs under another; at 1024 px too, the narrowest width with a horizontal bar.
    for width in (DESKTOP, 1024):
        page.set_viewport_size({"width": width, "height": 860})
        bar = navbar.bounding_box()
        items = navbar.locator(".navbar-start > .navbar-item, .navbar-end > .navbar-item")
        boxes = sorted(
            (box["x"], box["x"] + box["width"])
            for box in (items.nth(i).bounding_box() for i in range(items.count()))
            if box and box["width"]
        )
        overlaps = [(a, b) for a, b in zip(boxes, boxes[1:]) if b[0] < a[1] - 1]
        assert overlaps == [], f"bar items overlap at {width} px: {overlaps}"
        for item in (
            page.get_by_test_id("nav-manage").locator(".navbar-link"),
            page.get_by_test_id("current-user"),
            navbar.get_by_role("button", name="Log out"),
        ):
            expect(item).to_be_visible()
            box = item.bounding_box()
            assert box["x"] + box["width"] <= width
            assert box["y"] + box["height"] <= bar["y"] + bar["height"]
        assert _too_wide(page) == []
    page.screenshot(path=f"{screenshot_dir}/width-1024-settings.png", full_page=True)

    page.context.clear_cookies()
    _log_in(page, live_server, staff)
    _visit_all(page, live_server, _oversight_pages(workspace), screenshot_dir)


def test_delete_workspace_reads_as_a_danger_action(page: Page, live_server, long_workspace):
    workspace, owner, staff = long_workspace
    _log_in(page, live_server, owner)
    page.goto(f"{live_server.url}/w/{workspace.code}/settings/")
    button = page.get_by_role("link", name="Delete workspace…")
    expect(button).to_have_class("button is-danger")
    background = page.evaluate(
        "el => getComputedStyle(el).backgroundColor", button.element_handle()
    )
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")


def test_the_taisly_key_page_in_indonesian_fits_a_phone(
    page: Page, live_server, long_workspace, screenshot_dir
):
    """Indonesian labels are longer ("Terakhir diverifikasi dengan Taisly"): the key's table
    stays inside its card and the page does not scroll sideways, with every row shown."""
    from datetime import timedelta

    from django.utils import timezone

    workspace, owner, _staff = long_workspace
    User.objects.filter(pk=owner.pk).update(language="id")
    now = timezone.now()
    TaislyConnection.objects.filter(workspace=workspace).update(
        blocked_until=now + timedelta(minutes=30), last_verified_at=now
    )
    page.set_viewport_size({"width": PHONE, "height": 844})
    _log_in(page, live_server, owner)
    page.goto(f"{live_server.url}/w/{workspace.code}/taisly/")
    expect(page.get_by_role("heading", name="Kunci Taisly")).to_be_visible()
    page.screenshot(path=f"{screenshot_dir}/width-{PHONE}-key-id.png", full_page=True)
    assert _too_wide(page) == []
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE
    card = page.get_by_test_id("key-card").bounding_box()
    table = page.get_by_test_id("key-card").locator("table").bounding_box()
    assert table["x"] + table["width"] <= card["x"] + card["width"]


def test_the_home_page_of_an_agency_fits_1280_px_in_both_languages(
    page: Page, live_server, screenshot_dir
):
    """The welcome line and its three buttons (calendar, failures, new client workspace) once
    pushed the home page 69 px sideways at 1280 px (Bulma's level never wraps); the buttons now
    go under the title when both do not fit."""
    agency = verify(
        User.objects.create_user(
            email="ayu@agency.test", password="a-long-enough-pass-42", display_name="Ayu (agency)"
        )
    )
    for name in ("Batik Nusantara", "Kopi Senja"):
        services.workspace_create(name=name, owner=agency)
    page.set_viewport_size({"width": DESKTOP, "height": 860})
    _log_in(page, live_server, agency)
    for language in ("en", "id"):
        page.context.add_cookies(
            [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
        )
        page.goto(f"{live_server.url}/")
        expect(page.get_by_test_id("home-workspace-create")).to_be_visible()
        page.screenshot(path=f"{screenshot_dir}/width-{DESKTOP}-home-agency-{language}.png")
        for button in ("home-calendar-everywhere", "home-failure-inbox", "home-workspace-create"):
            box = page.get_by_test_id(button).bounding_box()
            assert box["x"] + box["width"] <= DESKTOP, (language, button)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), language
