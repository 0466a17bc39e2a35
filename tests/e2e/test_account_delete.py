"""Deleting one's own account in a real browser, from the profile: refused while the person is
the last owner of a shared workspace (which is named), then done once it is handed over.

The browser is logged in with a session cookie (the log-in form is not what this is about).
"""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import Page, expect

from accounts.models import Membership, User, Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-enough-pass-42"


def _log_in(page: Page, live_server, user: User) -> None:
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )


@pytest.mark.parametrize("width", [1280, 390])
def test_deleting_my_account_from_the_profile(page: Page, live_server, screenshot_dir, width):
    owner = User.objects.create_user(
        email="owen@example.test", password=PASSWORD, display_name="Owen"
    )
    helper = User.objects.create_user(email="hana@example.test", password=PASSWORD)
    shared = Workspace.objects.create(name="Kopi Senja", kind=Workspace.Kind.CLIENT)
    Membership.objects.create(workspace=shared, user=owner, role=Membership.Role.OWNER)
    Membership.objects.create(workspace=shared, user=helper, role=Membership.Role.EDITOR)
    page.set_viewport_size({"width": width, "height": 860})
    _log_in(page, live_server, owner)

    page.goto(f"{live_server.url}/profile/")
    page.screenshot(path=f"{screenshot_dir}/account_profile_{width}.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.get_by_role("link", name="Delete my account…").click()

    # The last owner of a shared workspace: named, with the way to hand it over.
    blocked = page.get_by_test_id("blocked")
    expect(blocked).to_contain_text("Kopi Senja")
    alone = page.get_by_test_id("alone")
    expect(alone).to_contain_text("Owen")  # the personal workspace
    expect(alone).not_to_contain_text("Kopi Senja")
    expect(page.get_by_role("button", name="Delete my account")).to_be_disabled()
    page.screenshot(path=f"{screenshot_dir}/account_delete_blocked_{width}.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    # Handed over: now it can go, with a wrong password first.
    Membership.objects.filter(workspace=shared, user=helper).update(role=Membership.Role.OWNER)
    page.reload()
    expect(page.get_by_test_id("blocked")).to_have_count(0)
    page.get_by_label("Your password").fill("not-my-password")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_text("That is not your password.")).to_be_visible()
    page.get_by_label("Your password").fill(PASSWORD)
    page.screenshot(path=f"{screenshot_dir}/account_delete_{width}.png", full_page=True)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_text("Your account was deleted.")).to_be_visible()
    assert not User.objects.filter(email="owen@example.test").exists()
    assert Membership.objects.get(workspace=shared).user == helper
