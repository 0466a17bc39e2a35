"""Alerts in a real browser, against the sandbox over HTTP: the badge appears after a failure,
the alerts page names post, network and code, "Mark all read" clears it, and "Retry failed
platforms" posts only to the failed platform."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Page, expect

from posting.mirror import sync
from posting.models import Alert, Post
from tests.e2e.test_compose import worker_thread  # noqa: F401 (fixture)
from tests.e2e.test_keys import confirm_password, csp_violations, log_in  # noqa: F401
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_data, compose_url, sandbox_posts
from tests.posting.webhook_receiver import receiver  # noqa: F401 (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def no_sideways_scroll(page: Page) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def test_badge_alerts_page_mark_all_read_and_retry_failed_platforms(
    page: Page,
    live_server,
    bob,
    alice,
    workspace,
    connected_ws,
    sandbox,
    video_file,
    worker_thread,  # noqa: F811
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    # bob posts to TikTok and Instagram; Taisly fails TikTok.
    client = Client()
    client.force_login(bob)
    payload = compose_data(workspace, description="Kopi launch #fail:TikTok")
    with open(video_file(), "rb") as fh:
        payload["video"] = fh
        client.post(compose_url(workspace), payload)
    worker_thread.finish(posts=1)
    post = Post.objects.get()
    assert post.state == Post.State.SENT
    sandbox.advance(5)
    sync.history_sync(workspace=workspace)
    assert Alert.objects.filter(kind="failed").count() == 1

    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server, bob)
    page.goto(live_server.url + reverse("accounts:workspace", kwargs={"code": workspace.code}))
    nav = page.get_by_test_id("nav-alerts")
    expect(nav.get_by_test_id("alert-badge")).to_have_text("1")

    nav.click()
    item = page.get_by_test_id("alert")
    expect(item).to_have_count(1)
    expect(item.get_by_test_id("alert-post")).to_contain_text("Kopi launch #fail:TikTok")
    expect(item.get_by_test_id("alert-network")).to_have_text("TikTok")
    expect(item.get_by_test_id("alert-code")).to_have_text("SANDBOX_FORCED_FAILURE")
    page.screenshot(path=f"{screenshot_dir}/alerts-1280.png", full_page=True)
    assert no_sideways_scroll(page)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=f"{screenshot_dir}/alerts-390.png", full_page=True)
    assert no_sideways_scroll(page)
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_test_id("mark-all-read").click()
    expect(item.get_by_test_id("alert-unread")).to_have_count(0)
    expect(page.get_by_test_id("unread-count")).to_have_text("0 unread")
    expect(nav.get_by_test_id("alert-badge")).to_have_count(0)

    # From the alert to the post, and its retry.
    item.get_by_test_id("alert-post").click()
    expect(page.get_by_test_id("retry-failed")).to_be_visible()
    page.screenshot(path=f"{screenshot_dir}/post-retry-1280.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    assert no_sideways_scroll(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_test_id("retry-failed").click()
    worker_thread.finish(posts=2)  # the retry, once its request has queued it
    retry = Post.objects.get(retry_of=post)
    # The retry's own post page: live progress while it is sent, its results once it is.
    page.wait_for_url(f"**/posts/{retry.code}/")
    retry.refresh_from_db()
    assert retry.state == Post.State.SENT
    page.reload()
    expect(page.get_by_test_id("post-state")).to_have_count(0)
    expect(page.get_by_text("TikTok").first).to_be_visible()
    assert [p.network for p in retry.target_platforms.all()] == ["TikTok"]
    made = {p["id"]: p for p in sandbox_posts(sandbox, connected_ws["api_key"])}
    assert len(made) == 2 and len(made[retry.taisly_id]["result"]) == 1
    assert csp_violations == []


def test_an_owner_adds_a_webhook_sends_a_test_event_and_reads_the_log(
    page: Page,
    live_server,
    alice,
    vera,
    workspace,
    receiver,  # noqa: F811
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    log_in(page, live_server, alice)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server.url + reverse("posting:webhooks", kwargs={"code": workspace.code}))

    def add_webhook():
        page.get_by_label("URL").fill(receiver.url("/in"))
        page.get_by_label("Signed JSON").check()
        page.get_by_label("Failed", exact=True).check()
        page.get_by_role("button", name="Add webhook").click()

    add_webhook()
    # Adding one asks for the password again first; the form is not kept (a Slack URL is a
    # credential), so the owner fills it in again, and then sees the secret.
    confirm_password(page)
    add_webhook()
    expect(page.get_by_test_id("webhook-secret")).to_contain_text("whsec_")
    page.get_by_test_id("webhook-test").click()
    expect(page.get_by_test_id("attempt")).to_have_count(1)
    expect(page.get_by_test_id("attempt")).to_contain_text("200")
    assert receiver.received[0].json()["event"] == "test"
    page.screenshot(path=f"{screenshot_dir}/webhook-1280.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    assert no_sideways_scroll(page)
    page.screenshot(path=f"{screenshot_dir}/webhook-390.png", full_page=True)
    page.goto(live_server.url + reverse("posting:webhooks", kwargs={"code": workspace.code}))
    assert no_sideways_scroll(page)
    page.screenshot(path=f"{screenshot_dir}/webhooks-390.png", full_page=True)
    assert csp_violations == []


def test_a_viewer_chooses_the_hourly_digest(
    page: Page, live_server, vera, workspace, screenshot_dir
):
    log_in(page, live_server, vera)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + reverse("posting:alert_settings", kwargs={"code": workspace.code}))
    expect(page.get_by_label("Off")).to_be_checked()
    page.get_by_label("Hourly digest").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Your choice of alert emails was saved.")
    expect(page.get_by_label("Hourly digest")).to_be_checked()
    assert no_sideways_scroll(page)
    page.screenshot(path=f"{screenshot_dir}/alert-emails-390.png", full_page=True)
