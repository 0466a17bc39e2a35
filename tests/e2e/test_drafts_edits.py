"""Drafts, editing a scheduled post and a caption per network, in a real browser against the
sandbox over HTTP. The forward runs on the test's `uploads` worker thread (tests.e2e.test_compose);
an edit's cancel-and-remake task runs as django-q2 runs tasks under pytest (at once)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from posting.models import Draft, Post
from tests.e2e.test_compose import (  # noqa: F401 (fixtures)
    expect_waiting_for_the_worker,
    open_compose,
    worker_thread,
)
from tests.e2e.test_keys import csp_violations, log_in  # noqa: F401 (fixture)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import sandbox_posts

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def shoot(page: Page, screenshot_dir: str, name: str) -> None:
    """The page at 1280 and at 390 px wide; nothing may scroll sideways on the phone."""
    for label, size in (("1280", DESKTOP), ("390", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=f"{screenshot_dir}/{name}_{label}.png", full_page=True)
        if label == "390":
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= 390, f"{name} is {wide} px wide on a phone"
    page.set_viewport_size(DESKTOP)


def local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_a_draft_saved_then_sent_later(
    page: Page,
    live_server,
    bob,
    workspace,
    connected_ws,
    sandbox,
    video_file,
    worker_thread,  # noqa: F811
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    log_in(page, live_server, bob)
    open_compose(page, live_server, workspace)
    page.get_by_role("checkbox", name="TikTok").check()
    page.get_by_label("Description").fill("Rough idea")
    page.get_by_label("Video", exact=True).set_input_files(video_file("draft.webm", seconds=4))
    expect(page.locator("[data-video-facts]")).to_contain_text("180×320")
    page.get_by_test_id("save-draft").click()
    expect(page.get_by_role("heading", name="Draft", exact=True)).to_be_visible()
    expect(page.get_by_text("The draft is saved. Nothing was sent to Taisly.")).to_be_visible()
    assert sandbox_posts(sandbox, connected_ws["api_key"]) == []
    assert not Post.objects.exists()

    # Found later in its own list, from the navigation.
    page.get_by_test_id("nav-drafts").first.click()
    expect(page.get_by_test_id("draft-row")).to_have_count(1)
    shoot(page, screenshot_dir, "drafts_list")
    page.get_by_test_id("draft-link").click()
    page.get_by_label("Description").fill("Polished words")
    page.get_by_role("checkbox", name="Instagram").check()
    page.get_by_label("Schedule").check()
    when = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    page.get_by_label("Date and time").fill(local(when))
    expect(page.get_by_test_id("send-cost")).to_have_text(
        "Sending costs 1 upload of the video and 1 Taisly request."
    )
    shoot(page, screenshot_dir, "draft_page")
    page.get_by_test_id("draft-send").click()
    expect_waiting_for_the_worker(page)
    worker_thread.release()
    expect(page.get_by_test_id("post-live")).to_have_attribute("data-state", "sent", timeout=20_000)
    [made] = sandbox_posts(sandbox, connected_ws["api_key"])
    post = Post.objects.get()
    assert made["id"] == post.taisly_id and made["description"] == "Polished words"
    assert made["scheduled"] is True and post.scheduled_at == when
    assert Draft.objects.get().sent_post == post
    page.get_by_test_id("nav-drafts").first.click()
    expect(page.get_by_test_id("no-drafts")).to_be_visible()
    assert csp_violations == []


def test_two_captions_make_two_taisly_posts_shown_as_one(
    page: Page,
    live_server,
    bob,
    workspace,
    connected_ws,
    sandbox,
    video_file,
    worker_thread,  # noqa: F811
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    log_in(page, live_server, bob)
    open_compose(page, live_server, workspace)
    page.get_by_role("checkbox", name="TikTok").check()
    page.get_by_role("checkbox", name=re.compile(r"^X\b")).check()
    long = "A long caption for TikTok, " + "with many words " * 6
    page.get_by_label("Description").fill(long)
    # X's limit binds the caption X would get: too long until X has its own.
    expect(page.locator("[data-counters] li[data-network='X']")).to_have_class("has-text-danger")
    page.get_by_test_id("separate-captions").click()
    page.get_by_label("Caption for X").fill("Short for X")
    expect(page.locator("[data-counters] li[data-network='X']")).not_to_have_class(
        "has-text-danger"
    )
    expect(page.get_by_test_id("send-cost")).to_contain_text(
        "Sending costs 2 uploads of the video and 2 Taisly requests"
    )
    page.get_by_label("Video", exact=True).set_input_files(video_file("two.webm", seconds=4))
    expect(page.locator("[data-video-facts]")).to_contain_text("180×320")
    shoot(page, screenshot_dir, "compose_two_captions")
    page.get_by_test_id("compose-submit").click()
    expect_waiting_for_the_worker(page)
    worker_thread.finish(2)
    made = sandbox_posts(sandbox, connected_ws["api_key"])
    assert sorted(p["description"] for p in made) == sorted([long.strip(), "Short for X"])

    lead = Post.objects.get(group__isnull=True)
    page.goto(
        live_server.url
        + reverse("posting:post", kwargs={"code": workspace.code, "post_code": lead.code})
    )
    expect(page.get_by_test_id("result")).to_have_count(2)
    expect(page.get_by_test_id("member-caption")).to_have_text("X")
    # Each caption's own Taisly post, by its networks.
    expect(page.get_by_test_id("member-taisly-id")).to_have_text(
        ["Taisly id for TikTok", "Taisly id for X"]
    )
    shoot(page, screenshot_dir, "post_two_captions")
    page.goto(live_server.url + reverse("posting:history", kwargs={"code": workspace.code}))
    expect(page.get_by_test_id("post-row")).to_have_count(1)
    assert csp_violations == []


def test_a_scheduled_post_moved_leaves_one_taisly_post_at_the_new_time(
    page: Page,
    live_server,
    bob,
    workspace,
    connected_ws,
    sandbox,
    video_file,
    worker_thread,  # noqa: F811
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    log_in(page, live_server, bob)
    open_compose(page, live_server, workspace)
    page.get_by_role("checkbox", name="TikTok").check()
    page.get_by_label("Description").fill("Move me")
    page.get_by_label("Video", exact=True).set_input_files(video_file("move.webm", seconds=4))
    expect(page.locator("[data-video-facts]")).to_contain_text("180×320")
    page.get_by_label("Schedule").check()
    page.get_by_label("Date and time").fill(local(timezone.now() + timedelta(days=1)))
    page.get_by_test_id("compose-submit").click()
    expect_waiting_for_the_worker(page)
    worker_thread.release()
    expect(page.get_by_test_id("post-live")).to_have_attribute("data-state", "sent", timeout=20_000)
    [original] = sandbox_posts(sandbox, connected_ws["api_key"])

    page.reload()
    page.get_by_test_id("edit-post").click()
    expect(page.get_by_role("heading", name="Edit the scheduled post")).to_be_visible()
    expect(page.get_by_test_id("send-cost")).to_contain_text("This edit costs 2 Taisly requests")
    new_time = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    page.get_by_label("Date and time").fill(local(new_time))
    shoot(page, screenshot_dir, "post_edit")
    page.get_by_test_id("edit-save").click()
    # The cancel ran; the edited post waits for the upload worker, and the page follows it.
    expect(page.get_by_text("The edit is on its way")).to_be_visible()
    worker_thread.finish(2)
    expect(page.get_by_test_id("post-live")).to_have_attribute("data-state", "sent", timeout=20_000)
    made = sandbox_posts(sandbox, connected_ws["api_key"])
    post = Post.objects.get()
    assert len(made) == 1 and made[0]["id"] == post.taisly_id != original["id"]
    assert post.due_at == new_time and post.state == Post.State.SENT
    page.reload()
    shoot(page, screenshot_dir, "post_after_edit")
    assert csp_violations == []
