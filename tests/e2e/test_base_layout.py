import re

import pytest
from playwright.sync_api import Browser, Page, expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_user_logs_in_and_sees_the_base_layout(
    page: Page, live_server, django_user_model, screenshot_dir
):
    django_user_model.objects.create_user(email="alice@example.test", password="s3cret-pass-123")
    csp_violations: list[str] = []
    page.on(
        "console",
        lambda msg: (
            csp_violations.append(msg.text) if "Content Security Policy" in msg.text else None
        ),
    )

    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/")
    page.get_by_label("Email").fill("alice@example.test")
    page.get_by_label("Password").fill("s3cret-pass-123")
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("navigation", name="Main navigation")).to_be_visible()
    expect(page.get_by_test_id("current-user")).to_have_text("alice")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    # htmx is served locally and loaded: no CDN, no inline script.
    assert page.evaluate("typeof window.htmx") == "object"
    # Bulma is applied (the navbar is dark), so the CSS came through the CSP.
    background = page.evaluate(
        "getComputedStyle(document.querySelector('.navbar')).backgroundColor"
    )
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")
    page.screenshot(path=f"{screenshot_dir}/base_layout.png", full_page=True)
    assert csp_violations == []


def test_wrong_password_gets_a_sentence_not_an_error_page(
    page: Page, live_server, django_user_model
):
    django_user_model.objects.create_user(email="bob@example.test", password="s3cret-pass-123")
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill("bob@example.test")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct email")


def test_the_layout_fits_a_phone(page: Page, live_server, django_user_model, screenshot_dir):
    django_user_model.objects.create_user(email="carol@example.test", password="s3cret-pass-123")
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill("carol@example.test")
    page.get_by_label("Password").fill("s3cret-pass-123")
    page.get_by_role("button", name="Log in").click()
    # Logged in (past the login page, whose bar has no "Log out" to hide), then: folded away.
    expect(page).not_to_have_url(re.compile(r"/login/"))
    burger = page.get_by_test_id("nav-burger")
    expect(burger).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_hidden()
    burger.click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    # Nothing overflows sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=f"{screenshot_dir}/base_layout_phone.png", full_page=True)


def test_without_javascript_the_phone_menu_opens_and_logs_out(
    browser: Browser, live_server, django_user_model, screenshot_dir
):
    django_user_model.objects.create_user(email="dan@example.test", password="s3cret-pass-123")
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Email").fill("dan@example.test")
        page.get_by_label("Password").fill("s3cret-pass-123")
        page.get_by_role("button", name="Log in").click()
        expect(page).not_to_have_url(re.compile(r"/login/"))
        log_out = page.get_by_role("button", name="Log out")
        expect(log_out).to_be_hidden()
        page.get_by_test_id("nav-burger").click()
        expect(log_out).to_be_visible()
        expect(page.get_by_test_id("nav-reviews-everywhere")).to_be_attached()
        page.screenshot(path=f"{screenshot_dir}/nojs_phone_menu.png", full_page=True)
        # The burger closes it again.
        page.get_by_test_id("nav-burger").click()
        expect(log_out).to_be_hidden()
        page.get_by_test_id("nav-burger").click()
        log_out.click()
        expect(page).to_have_url(re.compile(r"/login/"))
    finally:
        context.close()
