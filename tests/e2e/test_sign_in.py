"""Signing in, in a real browser: two-factor sign-in turned on from the profile and then asked
for at log-in; and the sign-in pages at desktop and phone widths, none wider than the screen."""

from __future__ import annotations

import time

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from playwright.sync_api import Page, expect

from accounts.models import User
from tests.personas import PERSONA_PASSWORD, make_user, verified_user
from tests.polling import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTHS = (1280, 390)


def _code(secret: str) -> str:
    """The code of the current 30-second window, taken with at least 10 s of it left: the
    server accepts only the window it checks in (allauth's tolerance is 0), and on a loaded
    machine the form can take seconds to reach it."""
    wait_until(lambda: 30 - time.time() % 30 >= 10, timeout=25, what="a fresh TOTP window")
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def _shoot(page: Page, screenshot_dir: str, name: str) -> None:
    """The page at each width, and nothing wider than the screen."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
        page.screenshot(path=f"{screenshot_dir}/signin_{name}_{width}.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def _log_in(page: Page, live_server, email: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PERSONA_PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_turning_on_two_factor_then_logging_in_with_a_code(page: Page, live_server, screenshot_dir):
    verified_user("tfa@example.test", "Tess")
    _log_in(page, live_server, "tfa@example.test")
    expect(page.get_by_test_id("current-user")).to_have_text("Tess")

    page.goto(f"{live_server.url}/profile/")
    page.get_by_role("link", name="Turn on two-factor sign-in").click()
    # allauth asks for the password again before changing how one signs in.
    expect(page).to_have_url(f"{live_server.url}/reauthenticate/?next=%2F2fa%2Ftotp%2Factivate%2F")
    _shoot(page, screenshot_dir, "reauthenticate")
    page.get_by_label("Password").fill(PERSONA_PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    secret = page.locator("#authenticator_secret").input_value()
    assert len(secret) >= 16
    _shoot(page, screenshot_dir, "2fa_setup")
    page.get_by_label("Authenticator code").fill(_code(secret))
    page.get_by_role("button", name="Activate").click()
    # allauth shows the recovery codes next.
    expect(page.locator("#recovery_codes")).to_be_visible()
    _shoot(page, screenshot_dir, "2fa_recovery_codes")
    page.goto(f"{live_server.url}/profile/")
    expect(page.get_by_test_id("two-factor")).to_contain_text("On")

    page.get_by_role("button", name="Log out").click()
    _log_in(page, live_server, "tfa@example.test")
    # The password alone is not enough now: the code page, and nobody signed in on it. (Seen
    # the code page first: right after the click the login page also has no current user.)
    expect(page.get_by_label("Code")).to_be_visible()
    expect(page.get_by_test_id("current-user")).to_have_count(0)
    _shoot(page, screenshot_dir, "2fa_code")
    page.get_by_label("Code").fill(_code(secret))
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("current-user")).to_have_text("Tess")
    assert User.objects.get(email="tfa@example.test").last_login is not None


def test_the_sign_in_pages_at_desktop_and_phone_widths(page: Page, live_server, screenshot_dir):
    page.goto(f"{live_server.url}/login/")
    _shoot(page, screenshot_dir, "login")
    page.get_by_label("Email").fill("nobody@example.test")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct email")
    _shoot(page, screenshot_dir, "login_failed")
    page.goto(f"{live_server.url}/signup/")
    _shoot(page, screenshot_dir, "signup")
    page.goto(f"{live_server.url}/password/reset/")
    _shoot(page, screenshot_dir, "password_reset")

    make_user("fresh@example.test", "Fresh")
    _log_in(page, live_server, "fresh@example.test")
    expect(page.get_by_test_id("verify-banner")).to_be_visible()
    _shoot(page, screenshot_dir, "verify_banner")
    page.get_by_role("button", name="Send the link again").click()
    expect(page.locator("#messages")).to_contain_text("We sent a new link to fresh@example.test")
    page.goto(f"{live_server.url}/profile/")
    _shoot(page, screenshot_dir, "profile")
    page.goto(f"{live_server.url}/2fa/")
    _shoot(page, screenshot_dir, "2fa_index_unverified")
    page.goto(f"{live_server.url}/email/")
    _shoot(page, screenshot_dir, "email_change")
