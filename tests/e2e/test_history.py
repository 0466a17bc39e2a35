"""History, post page, cancel and calendar in a real browser, against the sandbox over HTTP.

Posts are made straight against the sandbox (as Taisly's own app would), so the dashboard only
learns of them through "Sync now".
"""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from posting.models import Post
from tests.e2e.test_keys import connected_key, csp_violations, log_in  # noqa: F401
from tests.posting.sandbox_posts import now_ms
from tests.sandbox.conftest import Api
from tests.videos import make_video

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("e2e-history") / "ok.mp4")


@pytest.fixture
def api(sandbox, sandbox_account) -> Api:
    return Api(sandbox.base_url, sandbox_account["api_key"], sandbox_account)


def page_url(live_server, name: str, workspace, **kwargs) -> str:
    return live_server.url + reverse(name, kwargs={"code": workspace.code, **kwargs})


def sync_now(page: Page) -> None:
    """Click "Sync now" and wait for the page it sends the browser back to."""
    with page.expect_navigation():
        page.get_by_role("button", name="Sync now (1 Taisly request)").click()


def no_sideways_scroll(page: Page) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def test_a_fail_tiktok_post_reads_as_partly_failed_after_sync_now(
    page: Page,
    live_server,
    sandbox,
    api,
    connected_key,  # noqa: F811
    workspace,
    alice,
    video,
    csp_violations,  # noqa: F811
    screenshot_dir,
):
    ids = api.platform_ids
    api.create_post(
        video,
        [ids["TikTok"], ids["Instagram"], ids["YouTube"]],
        description="Launch day #fail:TikTok",
    )
    log_in(page, live_server, alice)
    page.goto(page_url(live_server, "posting:history", workspace))
    expect(page.get_by_test_id("history-empty")).to_be_visible()

    sync_now(page)
    expect(page.get_by_role("status")).to_contain_text("Synced with Taisly: 1 new post")
    row = page.get_by_test_id("post-row")
    expect(row).to_have_count(1)

    # The sandbox publishes a second after the post is due (it may have already): TikTok
    # fails, the others succeed.
    sandbox.advance(5)
    sync_now(page)
    expect(page.get_by_role("status")).to_contain_text("Synced with Taisly")
    expect(row.get_by_test_id("post-summary")).to_have_text("2 of 3 posted")
    tiktok = row.locator('[data-testid="chip"][data-network="TikTok"]')
    expect(tiktok).to_contain_text("Failed")
    expect(tiktok).to_contain_text("SANDBOX_FORCED_FAILURE")
    expect(row.locator('[data-testid="chip"][data-network="Instagram"]')).to_contain_text("Posted")
    page.screenshot(path=f"{screenshot_dir}/history-1280.png", full_page=True)

    page.get_by_role("combobox", name="Status").select_option("partly_failed")
    expect(page).to_have_url(re.compile(r"status=partly_failed"))
    expect(page.get_by_test_id("post-row")).to_have_count(1)
    page.get_by_role("combobox", name="Status").select_option("failed")
    expect(page.get_by_test_id("post-row")).to_have_count(0)
    page.get_by_role("combobox", name="Status").select_option("")

    page.get_by_test_id("post-link").first.click()
    result = page.locator('[data-testid="result"][data-network="TikTok"]')
    expect(result.get_by_test_id("result-status")).to_have_text("Failed")
    expect(result.get_by_test_id("result-code")).to_have_text("SANDBOX_FORCED_FAILURE")
    expect(result.get_by_test_id("result-explanation")).to_contain_text("#fail")
    page.screenshot(path=f"{screenshot_dir}/post-1280.png", full_page=True)
    assert csp_violations == []


def test_schedule_in_taisly_then_cancel_from_the_post_page(
    page: Page,
    live_server,
    api,
    connected_key,  # noqa: F811
    workspace,
    alice,
    video,
    csp_violations,  # noqa: F811
    screenshot_dir,
):
    body = api.create_post(
        video, [api.platform_ids["X"]], description="Next week", scheduled=now_ms() + 86_400_000
    ).json()
    log_in(page, live_server, alice)
    page.goto(page_url(live_server, "posting:history", workspace))
    sync_now(page)
    page.get_by_test_id("post-link").first.click()

    page.get_by_role("link", name="Cancel this scheduled post").click()
    expect(page.get_by_test_id("cancel-confirm")).to_contain_text("cannot be undone")
    page.get_by_role("button", name="Cancel the post").click()

    expect(page.get_by_text("The scheduled post was cancelled.")).to_be_visible()
    expect(page.get_by_test_id("post-summary")).to_have_text("Cancelled")
    expect(page.get_by_test_id("audit-trail")).to_contain_text("Scheduled post cancelled")
    expect(page.get_by_test_id("cancel-post")).to_have_count(0)
    assert Post.objects.get(taisly_id=body["historyId"]).state == Post.State.CANCELLED
    history = api.history(page=1)
    assert body["historyId"] not in json.dumps(history["data"])
    assert csp_violations == []


@pytest.mark.parametrize("width", [1280, 390])
def test_the_pages_fit_the_screen(
    page: Page,
    live_server,
    sandbox,
    api,
    connected_key,  # noqa: F811
    workspace,
    alice,
    video,
    screenshot_dir,
    width,
):
    ids = api.platform_ids
    api.create_post(video, [ids["TikTok"], ids["X"]], description="Now #fail:X " + "word " * 30)
    api.create_post(
        video,
        [ids["Instagram"], ids["YouTube"], ids["Facebook"]],
        description="Tomorrow, a much longer caption that goes on",
        scheduled=now_ms() + 86_400_000,
    )
    sandbox.advance(5)
    from posting.mirror import sync

    sync.history_sync(workspace=workspace)
    log_in(page, live_server, alice)
    page.set_viewport_size({"width": width, "height": 900})
    post = Post.objects.filter(workspace=workspace).order_by("created_at").first()
    pages = {
        "overview": page_url(live_server, "accounts:workspace", workspace),
        "history": page_url(live_server, "posting:history", workspace),
        "post": page_url(live_server, "posting:post", workspace, post_code=post.code),
        "calendar": page_url(live_server, "posting:calendar", workspace),
        "week": page_url(live_server, "posting:calendar_week", workspace),
        "accounts": page_url(live_server, "posting:platforms", workspace),
    }
    crowded = []
    for name, address in pages.items():
        page.goto(address)
        page.screenshot(path=f"{screenshot_dir}/{name}-{width}.png", full_page=True)
        if not no_sideways_scroll(page):
            crowded.append(name)
    assert crowded == []
