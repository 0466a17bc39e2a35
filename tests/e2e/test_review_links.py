"""The whole approval flow with a client who has no account, in real browsers against the
sandbox over HTTP: an owner turns on "internal, then the client"; an editor submits a scheduled
post; the owner approves it internally and emails a review link (Django's locmem outbox); in a
fresh browser context without an account the link shows the video (it plays and seeks, by range
requests) and the caption; the client asks for changes with a comment; the editor edits and
submits again; the owner approves again; the client approves; exactly one Taisly post exists at
the chosen time; the audit log shows each step. Screenshots of the link's page and of an expired
link at 1280 and 390 px."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from posting.models import Draft, Post, ReviewLink
from tests.e2e.test_compose import (  # noqa: F401 (fixtures)
    expect_waiting_for_the_worker,
    open_compose,
    worker_thread,
)
from tests.e2e.test_drafts_edits import local, shoot
from tests.e2e.test_keys import csp_violations, log_in  # noqa: F401 (fixture)
from tests.polling import wait_until
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import sandbox_posts
from tests.reviewlinks.test_review_links import LINK_IN_MAIL

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def draft_page(live_server, workspace, draft) -> str:
    return live_server.url + reverse(
        "posting:draft", kwargs={"code": workspace.code, "draft_code": draft.code}
    )


def approve_internally(owner: Page, url: str) -> None:
    owner.goto(url)
    expect(owner.get_by_test_id("review-stage")).to_have_text("Internal review")
    owner.get_by_test_id("review-approve").click()
    expect(
        owner.get_by_text("Approved internally. It now waits for the client's approval.")
    ).to_be_visible()


def check_video_plays_and_seeks(client: Page) -> None:
    """The player loads the video's start, seeks to 2.5 s (a range request) and plays on. The
    page's CSP refuses Playwright's in-page polling (it evaluates strings), so Python polls."""
    video = client.get_by_test_id("review-video")
    expect(video).to_be_visible()

    def state(expression: str):
        return video.evaluate(f"v => {expression}")

    wait_until(lambda: state("v.readyState") >= 1, what="the video's metadata", timeout=15)
    assert 3 < state("v.duration") < 5
    video.evaluate("v => { v.muted = true; v.currentTime = 2.5; }")
    wait_until(
        lambda: not state("v.seeking") and state("v.readyState") >= 2,
        what="the seek to 2.5 s",
        timeout=15,
    )
    assert abs(state("v.currentTime") - 2.5) < 0.3
    video.evaluate("v => { v.play(); }")
    wait_until(lambda: state("v.currentTime") > 2.6, what="the video playing on", timeout=15)


def test_a_client_without_an_account_reviews_through_an_emailed_link(
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
    # The owner turns on "internal, then the client".
    owner = browser.new_context().new_page()
    log_in(owner, live_server, alice)
    owner.goto(
        live_server.url + reverse("accounts:workspace_settings", kwargs={"code": workspace.code})
    )
    owner.get_by_label("Internal, then the client").check()
    owner.get_by_test_id("approval-workflow-save").click()
    expect(owner.get_by_text("The approval workflow is saved.")).to_be_visible()

    # The editor submits a scheduled post.
    log_in(page, live_server, bob)
    open_compose(page, live_server, workspace)
    page.get_by_role("checkbox", name="TikTok").check()
    page.get_by_label("Description").fill("Summer sale teaser")
    page.get_by_label("Video", exact=True).set_input_files(video_file("client.webm", seconds=4))
    expect(page.locator("[data-video-facts]")).to_contain_text("180×320")
    page.get_by_label("Schedule").check()
    when = (timezone.now() + timedelta(days=2)).replace(second=0, microsecond=0)
    page.get_by_label("Date and time").fill(local(when))
    page.get_by_test_id("compose-submit").click()
    expect(page.get_by_text("Submitted for review.")).to_be_visible()
    draft = Draft.objects.get()
    url = draft_page(live_server, workspace, draft)

    # The owner approves internally, then emails a review link in the client's language.
    approve_internally(owner, url)
    owner.get_by_test_id("draft-review-link").click()
    owner.get_by_test_id("review-address").fill("client@example.test")
    owner.get_by_test_id("review-language").select_option("en")
    owner.get_by_test_id("review-link-send").click()
    expect(owner.get_by_text("The review link was emailed to client@example.test.")).to_be_visible()
    expect(owner.get_by_test_id("review-link")).to_have_count(1)
    shoot(owner, screenshot_dir, "draft_comments_and_links")
    # (the author's alert emails are in the outbox too)
    [message] = [m for m in mail.outbox if m.to == ["client@example.test"]]
    link_url = LINK_IN_MAIL.search(message.body).group(0)
    assert link_url.startswith(live_server.url)

    # A fresh browser without an account opens the link: the token leaves the address bar.
    client = browser.new_context().new_page()
    ranges = []
    client.on(
        "response",
        lambda r: ranges.append(r.status) if "/video/" in r.url else None,
    )
    client.goto(link_url)
    assert client.url == live_server.url + reverse("review:page")
    expect(client.get_by_test_id("review-caption")).to_have_text("Summer sale teaser")
    expect(client.get_by_test_id("review-networks")).to_have_text("TikTok")
    check_video_plays_and_seeks(client)
    assert 206 in ranges
    shoot(client, screenshot_dir, "review_link_page")

    # The client asks for changes with a comment.
    client.get_by_test_id("review-comment").fill("Please mention the 20% discount.")
    client.get_by_test_id("review-changes").click()
    expect(client.get_by_text("Thank you: the team was told what to change.")).to_be_visible()
    # Meanwhile the link shows nothing of the post, and says what happens next.
    expect(client.get_by_test_id("review-done")).to_contain_text("The team is making changes")
    expect(client.get_by_test_id("review-caption")).to_have_count(0)
    expect(client.get_by_test_id("review-approve")).to_have_count(0)
    shoot(client, screenshot_dir, "review_link_changing")

    # The editor edits and submits again; the owner approves again.
    page.goto(url)
    expect(page.get_by_test_id("review-comment")).to_have_text("Please mention the 20% discount.")
    page.get_by_label("Description").fill("Summer sale teaser: 20% off")
    page.get_by_test_id("draft-submit").click()
    expect(page.get_by_text("Submitted for review.")).to_be_visible()
    approve_internally(owner, url)

    # The client (same link, same browser) approves; the post goes out once, at its time.
    client.reload()
    expect(client.get_by_test_id("review-caption")).to_have_text("Summer sale teaser: 20% off")
    client.get_by_test_id("review-approve").click()
    expect(client.get_by_text("Thank you: you approved this post.")).to_be_visible()
    # The review is over: the link says what was decided, and nothing of the post.
    expect(client.get_by_test_id("review-problem-title")).to_have_text("This review is finished")
    expect(client.get_by_test_id("review-verdict")).to_contain_text("You approved this post on")
    expect(client.locator("video")).to_have_count(0)
    shoot(client, screenshot_dir, "review_link_finished")
    client.goto(link_url)
    expect(client.get_by_test_id("review-problem-title")).to_have_text("This review is finished")
    client.get_by_label("Language").select_option("id")
    client.get_by_role("button", name="Change").click()
    expect(client.get_by_test_id("review-problem-title")).to_have_text("Tinjauan ini sudah selesai")
    shoot(client, screenshot_dir, "review_link_finished_id")
    worker_thread.finish(1)
    [made] = sandbox_posts(sandbox, connected_ws["api_key"])
    post = Post.objects.get()
    assert made["id"] == post.taisly_id and made["description"] == "Summer sale teaser: 20% off"
    assert made["scheduled"] is True and post.scheduled_at == when
    assert Draft.objects.get().sent_post == post

    # The audit log shows each step.
    owner.goto(live_server.url + reverse("accounts:audit", kwargs={"code": workspace.code}))
    log = owner.get_by_test_id("audit-events")
    for step in (
        "Approval workflow changed",
        "Post submitted for review",
        "Review link sent",
        "Approved (internal review)",
        "Changes requested by the client",
        "Approved for the client",
        "Draft sent",
    ):
        expect(log).to_contain_text(step)
    expect(log).to_contain_text("client@example.test")

    # Once revoked, the same browser gets a page that says so.
    ReviewLink.objects.update(revoked_at=timezone.now())
    client.goto(link_url)
    expect(client.get_by_test_id("review-problem-title")).to_have_text(
        "This review link was withdrawn"
    )
    assert csp_violations == []


def test_an_expired_link_says_so_in_both_languages(
    page: Page, live_server, workspace, bob, media, video_file, screenshot_dir
):
    from posting.reviewlinks.links import token_hash

    link = ReviewLink.objects.create(
        workspace=workspace,
        address="client@example.test",
        token_hash=token_hash("expired-token-for-the-screenshot-0123456789"),
        language="en",
        created_by=bob,
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    assert not link.is_usable()
    page.goto(live_server.url + "/review/expired-token-for-the-screenshot-0123456789/")
    expect(page.get_by_test_id("review-problem-title")).to_have_text("This review link has expired")
    shoot(page, screenshot_dir, "review_link_expired")
    # The footer's switch: the same page in Bahasa Indonesia.
    page.get_by_label("Language").select_option("id")
    page.get_by_role("button", name="Change").click()
    expect(page.get_by_test_id("review-problem-title")).to_have_text(
        "Tautan tinjauan ini sudah kedaluwarsa"
    )
    shoot(page, screenshot_dir, "review_link_expired_id")


def test_the_review_page_in_bahasa_indonesia(
    page: Page, live_server, workspace, bob, media, video_file, screenshot_dir
):
    from posting.reviewlinks.links import token_hash
    from tests.reviewlinks.fixtures import make_kept_draft

    draft = make_kept_draft(
        workspace,
        bob,
        video_file("review.mp4", seconds=3.0),
        description="Promo akhir pekan",
        review_state="in_review",
        review_stage="client",
    )
    link = ReviewLink.objects.create(
        workspace=workspace,
        address="klien@example.test",
        token_hash=token_hash("indonesian-token-for-the-screenshot-0123456"),
        language="id",
        created_by=bob,
        expires_at=timezone.now() + timedelta(days=7),
    )
    link.drafts.add(draft)
    page.goto(live_server.url + "/review/indonesian-token-for-the-screenshot-0123456/")
    expect(page.get_by_test_id("review-caption").first).to_have_text("Promo akhir pekan")
    expect(page.get_by_test_id("review-approve")).to_have_text("Setujui")
    shoot(page, screenshot_dir, "review_link_page_id")
