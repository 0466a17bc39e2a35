"""Repost rules in a real browser against the sandbox over HTTP: add, pause, resume, delete, the
circular rule refused, a longer circle confirmed; the same without JavaScript; a viewer only
looks."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect

from posting.connection import keys
from posting.taisly import TaislyClient
from tests.e2e.test_keys import csp_violations, log_in  # noqa: F401 (fixture)
from tests.e2e.test_people import manage_menu
from tests.posting.sandbox_mirror import mirror_platforms

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def mirrored(settings, sandbox, sandbox_account, workspace, alice) -> dict:
    settings.TAISLY_BASE_URL = sandbox.base_url
    keys.connection_store(
        workspace=workspace,
        api_key=sandbox_account["api_key"],
        plan="STARTER",
        actor=alice,
        verified=True,
    )
    return mirror_platforms(workspace, sandbox_account)


def sandbox_rules(sandbox_account) -> list[tuple[str, tuple[str, ...], bool]]:
    with TaislyClient(sandbox_account["api_key"]) as client:
        return [(r.from_platform, r.to_platforms, r.paused) for r in client.reposts()]


def reposts_url(live_server, workspace) -> str:
    return live_server.url + reverse("posting:reposts", kwargs={"code": workspace.code})


def label(platform) -> str:
    return f"{platform.network} {platform.name}"


def assert_no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def add_rule(page: Page, source, targets) -> None:
    form = page.get_by_test_id("repost-add")
    form.get_by_label("When something is posted to").select_option(label=label(source))
    for target in targets:
        form.get_by_label(label(target)).check()
    form.get_by_role("button", name="Add rule").click()


def test_add_pause_resume_delete_and_the_circle_refused(
    page: Page,
    live_server,
    workspace,
    alice,
    mirrored,
    sandbox_account,
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    tiktok, instagram, x, youtube = (mirrored[n] for n in ("TikTok", "Instagram", "X", "YouTube"))
    log_in(page, live_server, alice)
    page.goto(live_server.url + reverse("accounts:workspace", kwargs={"code": workspace.code}))
    manage_menu(page).get_by_role("link", name="Reposts").click()
    expect(page.get_by_test_id("reposts-empty")).to_be_visible()

    # Add: TikTok → Instagram and X.
    add_rule(page, tiktok, [instagram, x])
    expect(page.get_by_test_id("reposts-notice")).to_contain_text("Rule added")
    row = page.get_by_test_id("repost-rule")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("TikTok")
    expect(row).to_contain_text("Instagram")
    expect(row.get_by_test_id("rule-state")).to_have_text("Active")
    expect(row).to_contain_text("Alice")
    assert sandbox_rules(sandbox_account) == [
        (tiktok.taisly_id, (instagram.taisly_id, x.taisly_id), False)
    ]

    # The circle: Instagram → TikTok is refused before Taisly is asked, choices kept.
    add_rule(page, instagram, [tiktok])
    form = page.get_by_test_id("repost-add")
    expect(form.get_by_role("alert")).to_contain_text("already reposts to")
    expect(form.get_by_label(label(tiktok))).to_be_checked()
    expect(page.get_by_test_id("repost-rule")).to_have_count(1)
    assert len(sandbox_rules(sandbox_account)) == 1

    # Pause, then resume.
    row.get_by_role("button", name="Pause").click()
    expect(row.get_by_test_id("rule-state")).to_have_text("Paused")
    expect(page.get_by_test_id("reposts-notice")).to_contain_text("paused")
    assert sandbox_rules(sandbox_account)[0][2] is True
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=f"{screenshot_dir}/reposts_{width}.png", full_page=True)
        assert_no_sideways_scroll(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    row.get_by_role("button", name="Resume").click()
    expect(row.get_by_test_id("rule-state")).to_have_text("Active")
    assert sandbox_rules(sandbox_account)[0][2] is False

    # A longer circle: X → YouTube exists after this, and YouTube → TikTok would close
    # TikTok → X → YouTube → TikTok: a warning first, added once confirmed.
    page.get_by_test_id("repost-add").get_by_label(label(tiktok)).uncheck()  # kept from the refusal
    add_rule(page, x, [youtube])
    expect(page.get_by_test_id("repost-rule")).to_have_count(2)
    add_rule(page, youtube, [tiktok])
    warning = page.get_by_test_id("cycle-warning")
    expect(warning).to_contain_text("closes a circle")
    page.screenshot(path=f"{screenshot_dir}/reposts_cycle_warning.png", full_page=True)
    warning.get_by_role("button", name="Add it anyway").click()
    expect(page.get_by_test_id("repost-rule")).to_have_count(3)
    assert len(sandbox_rules(sandbox_account)) == 3

    # Delete the first with its confirm step; keeping it first changes nothing.
    first = page.get_by_test_id("repost-rule").first
    first.get_by_role("link", name="Delete").click()
    expect(page.get_by_test_id("confirm-delete")).to_be_visible()
    page.get_by_role("link", name="Keep it").click()
    expect(page.get_by_test_id("confirm-delete")).to_have_count(0)
    expect(page.get_by_test_id("repost-rule")).to_have_count(3)
    page.get_by_test_id("repost-rule").first.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete rule").click()
    expect(page.get_by_test_id("reposts-notice")).to_contain_text("deleted")
    expect(page.get_by_test_id("repost-rule")).to_have_count(2)
    remaining = sandbox_rules(sandbox_account)
    assert len(remaining) == 2 and tiktok.taisly_id not in [r[0] for r in remaining]

    # Sync now: one request, the same two rules.
    page.get_by_test_id("reposts-sync").click()
    expect(page.get_by_test_id("reposts-notice")).to_contain_text("synced from Taisly (2)")
    assert csp_violations == []


def test_without_javascript_add_and_delete_through_the_confirm_page(
    browser: Browser, live_server, workspace, bob, mirrored, sandbox_account
):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, live_server, bob)
        page.goto(reposts_url(live_server, workspace))
        add_rule(page, mirrored["YouTube"], [mirrored["Facebook"]])
        expect(page.locator("#messages")).to_contain_text("Rule added")
        expect(page.get_by_test_id("repost-rule")).to_have_count(1)

        page.get_by_test_id("repost-rule").get_by_role("link", name="Delete").click()
        assert page.url.endswith("/delete/")  # a page of its own, asking
        expect(page.get_by_test_id("confirm-delete")).to_be_visible()
        page.get_by_role("button", name="Delete rule").click()
        expect(page.locator("#messages")).to_contain_text("deleted")
        expect(page.get_by_test_id("reposts-empty")).to_be_visible()
        assert sandbox_rules(sandbox_account) == []
    finally:
        context.close()


def test_a_viewer_sees_the_rules_and_no_controls(
    page: Page, live_server, workspace, alice, vera, mirrored, screenshot_dir
):
    from posting.mirror import reposts

    reposts.repost_add(
        workspace=workspace,
        actor=alice,
        from_platform=mirrored["TikTok"],
        to_platforms=[mirrored["X"]],
    )
    log_in(page, live_server, vera)
    page.goto(reposts_url(live_server, workspace))

    expect(page.get_by_test_id("repost-rule")).to_have_count(1)
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)
    expect(page.get_by_role("link", name="Delete")).to_have_count(0)
    expect(page.get_by_test_id("repost-add")).to_have_count(0)
    expect(page.get_by_test_id("reposts-sync")).to_have_count(0)
    page.set_viewport_size({"width": 390, "height": 800})
    page.screenshot(path=f"{screenshot_dir}/reposts_viewer_390.png", full_page=True)
    assert_no_sideways_scroll(page)
