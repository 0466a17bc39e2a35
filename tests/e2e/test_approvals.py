"""Approvals in a real browser against the sandbox over HTTP: an owner turns internal review
on; an editor submits a scheduled post; the owner finds it in the review queue and approves it;
exactly one Taisly post exists at the chosen time; the audit log shows each step. (The review
link's own walk, with a client who has no account, is the review links' test.)"""

from __future__ import annotations

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
from tests.e2e.test_drafts_edits import local, shoot
from tests.e2e.test_keys import csp_violations, log_in  # noqa: F401 (fixture)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import sandbox_posts

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_editor_submits_an_owner_approves_one_post_goes_out_at_its_time(
    page: Page,
    browser,
    live_server,
    alice,
    bob,
    workspace,
    connected_ws,
    sandbox,
    video_file,
    worker_thread,  # noqa: F811
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    # The owner turns internal review on, on the settings page.
    owner = browser.new_context().new_page()
    log_in(owner, live_server, alice)
    owner.goto(
        live_server.url + reverse("accounts:workspace_settings", kwargs={"code": workspace.code})
    )
    owner.get_by_label("Internal: an owner or editor other than the author approves").check()
    owner.get_by_test_id("approval-workflow-save").click()
    expect(owner.get_by_text("The approval workflow is saved.")).to_be_visible()

    # The editor's compose form submits for review instead of posting.
    log_in(page, live_server, bob)
    open_compose(page, live_server, workspace)
    page.get_by_role("checkbox", name="TikTok").check()
    page.get_by_label("Description").fill("Launch day")
    page.get_by_label("Video", exact=True).set_input_files(video_file("review.webm", seconds=4))
    expect(page.locator("[data-video-facts]")).to_contain_text("180×320")
    page.get_by_label("Schedule").check()
    when = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    page.get_by_label("Date and time").fill(local(when))
    expect(page.get_by_test_id("compose-submit")).to_have_text("Submit for review")
    page.get_by_test_id("compose-submit").click()
    expect(page.get_by_text("Submitted for review.")).to_be_visible()
    expect(page.get_by_test_id("review-state")).to_have_text("In review")
    expect(page.get_by_test_id("review-decide")).to_have_count(0)  # not the author's to decide
    assert sandbox_posts(sandbox, connected_ws["api_key"]) == [] and not Post.objects.exists()

    # The owner finds it in the review queue and approves it.
    owner.goto(live_server.url + reverse("posting:reviews", kwargs={"code": workspace.code}))
    expect(owner.get_by_test_id("review-row")).to_have_count(1)
    expect(owner.get_by_test_id("review-yours")).to_be_visible()
    shoot(owner, screenshot_dir, "review_queue")
    owner.goto(live_server.url + reverse("reviews_everywhere"))
    expect(owner.get_by_test_id("review-row")).to_have_count(1)
    shoot(owner, screenshot_dir, "reviews_everywhere")
    owner.get_by_test_id("review-link").click()
    expect(owner.get_by_test_id("review-box")).to_be_visible()
    owner.get_by_test_id("review-versions").locator("summary").click()
    shoot(owner, screenshot_dir, "draft_in_review")
    owner.get_by_label("Comment").fill("Good to go")
    owner.get_by_test_id("review-approve").click()
    expect(
        owner.get_by_text("Approved. The post is scheduled for its chosen time.")
    ).to_be_visible()
    expect_waiting_for_the_worker(owner)
    worker_thread.release()
    expect(owner.get_by_test_id("post-live")).to_have_attribute(
        "data-state", "sent", timeout=20_000
    )

    [made] = sandbox_posts(sandbox, connected_ws["api_key"])
    post = Post.objects.get()
    assert made["id"] == post.taisly_id and made["description"] == "Launch day"
    assert made["scheduled"] is True and post.scheduled_at == when and post.author == bob
    assert Draft.objects.get().sent_post == post

    # The author was told; the audit log shows each step.
    page.goto(live_server.url + reverse("posting:alerts", kwargs={"code": workspace.code}))
    expect(page.locator("[data-kind='approved']")).to_have_count(1)
    owner.goto(live_server.url + reverse("accounts:audit", kwargs={"code": workspace.code}))
    log = owner.get_by_test_id("audit-events")
    for step in (
        "Approval workflow changed",
        "Post submitted for review (internal review)",
        "Approved (internal review)",
    ):
        expect(log).to_contain_text(step)
    expect(log).to_contain_text("Draft sent")
    assert csp_violations == []
