"""Posting slots and "Add to queue" in a real browser against the sandbox over HTTP, and two
compose papercuts: Back after a submit, and the console after a redraw and a submit."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from posting.models import Post, PostingSlot
from posting.sending import slots
from tests.e2e.test_compose import (  # noqa: F401 (fixtures)
    expect_waiting_for_the_worker,
    open_compose,
    worker_thread,
)
from tests.e2e.test_drafts_edits import shoot
from tests.e2e.test_keys import csp_violations, log_in  # noqa: F401 (fixture)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import sandbox_posts

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def console_errors(page: Page) -> list[str]:
    """Every console error and warning of the page, and every CSP violation it reports (with
    what was refused), whatever the browser logs for it."""
    seen: list[str] = []
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', function (e) {"
        " console.error('CSP violation: ' + e.violatedDirective + ' ' + e.sourceFile + ':'"
        " + e.lineNumber); });"
    )
    page.on(
        "console",
        lambda msg: seen.append(msg.text) if msg.type in ("error", "warning") else None,
    )
    return seen


def test_slots_set_then_add_to_queue_takes_the_next_free_slot_and_taisly_has_one_post(
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
    page.goto(live_server.url + reverse("accounts:workspace", kwargs={"code": workspace.code}))
    page.get_by_test_id("nav-queue").first.click()
    expect(page.get_by_role("heading", name="Queue")).to_be_visible()
    expect(page.get_by_test_id("queue-empty")).to_be_visible()
    page.get_by_test_id("slots-link").click()
    expect(page.get_by_test_id("no-slots")).to_be_visible()
    # Every day at 10:30 (Monday to Friday are ticked already), then Saturday and Sunday too.
    page.get_by_label("Time").fill("10:30")
    page.get_by_test_id("slot-add").click()
    expect(page.get_by_text("5 slots added.")).to_be_visible()
    for day in ("Saturday", "Sunday"):
        page.get_by_role("checkbox", name=day).check()
    for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"):
        page.get_by_role("checkbox", name=day).uncheck()
    page.get_by_label("Time").fill("10:30")
    page.get_by_test_id("slot-add").click()
    expect(page.get_by_test_id("slot")).to_have_count(7)
    # And one more on Monday (the form ticks Monday to Friday again), then removed again.
    for day in ("Tuesday", "Wednesday", "Thursday", "Friday"):
        page.get_by_role("checkbox", name=day).uncheck()
    page.get_by_label("Time").fill("18:00")
    page.get_by_test_id("slot-add").click()
    expect(page.get_by_test_id("slot")).to_have_count(8)
    page.locator("[data-testid='slot'][data-time='18:00'] [data-testid='slot-remove']").click()
    expect(page.get_by_test_id("slot")).to_have_count(7)
    shoot(page, screenshot_dir, "slots")
    assert PostingSlot.objects.filter(workspace=workspace).count() == 7

    # One post already takes the first slot: the queue goes to the one after.
    first = slots.next_free_slot(workspace)
    Post.objects.create(workspace=workspace, state=Post.State.SENT, due_at=first)
    expected = slots.next_free_slot(workspace)
    assert expected == first + timedelta(days=1)

    open_compose(page, live_server, workspace)
    page.get_by_role("checkbox", name="TikTok").check()
    page.get_by_label("Description").fill("Queued #coffee")
    page.get_by_label("Video", exact=True).set_input_files(video_file("queued.webm", seconds=4))
    expect(page.locator("[data-video-facts]")).to_contain_text("180×320")
    page.get_by_label("Add to queue").check()
    expect(page.get_by_test_id("next-slot")).to_contain_text("takes the next free slot")
    expect(page.locator("[data-schedule]")).to_be_hidden()
    shoot(page, screenshot_dir, "compose_queue")
    page.get_by_test_id("compose-submit").click()
    expect_waiting_for_the_worker(page)
    expect(page.get_by_text("added to the queue for")).to_be_visible()
    worker_thread.release()
    expect(page.get_by_test_id("post-live")).to_have_attribute("data-state", "sent", timeout=20_000)

    post = Post.objects.get(description="Queued #coffee")
    assert post.from_queue and post.scheduled_at == post.due_at == expected
    [made] = sandbox_posts(sandbox, connected_ws["api_key"])
    assert made["id"] == post.taisly_id and made["scheduled"] is True
    assert made["date"].startswith(expected.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"))

    page.get_by_test_id("nav-queue").first.click()
    expect(page.get_by_test_id("queue-row")).to_have_count(1)
    expect(page.get_by_test_id("queue-row")).to_contain_text("Queued #coffee")
    expect(page.get_by_test_id("queue-row")).to_contain_text("TikTok")
    expect(page.get_by_test_id("queue-status")).to_have_text("Scheduled at Taisly")
    # Two more on their way (not yet at Taisly): the last moves up by swapping times, no request.
    for n, days in ((1, 2), (2, 3)):
        Post.objects.create(
            workspace=workspace,
            state=Post.State.QUEUED,
            from_queue=True,
            description=f"Later {n}",
            due_at=expected + timedelta(days=days),
            scheduled_at=expected + timedelta(days=days),
        )
    page.reload()
    expect(page.get_by_test_id("queue-row")).to_have_count(3)
    expect(page.get_by_test_id("move-cost").first).to_have_text(
        "Moving down edits posts already at Taisly: 2 Taisly requests."
    )
    page.get_by_test_id("queue-row").nth(2).get_by_test_id("move-up").click()
    expect(page.get_by_text("The two posts swapped times.")).to_be_visible()
    expect(page.get_by_test_id("queue-row").nth(1)).to_contain_text("Later 2")
    shoot(page, screenshot_dir, "queue")
    # Remove = cancel the post scheduled at Taisly, after its confirm page.
    expect(page.get_by_test_id("queue-remove")).to_have_count(1)
    page.get_by_test_id("queue-remove").click()
    expect(page).to_have_url(re.compile(r"/cancel/$"))
    page.get_by_test_id("confirm-cancel").click()
    expect(page.get_by_text("The scheduled post was cancelled.")).to_be_visible()
    page.get_by_test_id("nav-queue").first.click()
    expect(page.get_by_test_id("queue-row")).to_have_count(2)
    assert Post.objects.get(pk=post.pk).state == Post.State.CANCELLED
    assert csp_violations == []


def test_back_after_a_submit_gives_a_fresh_compose_form(
    page: Page,
    live_server,
    bob,
    workspace,
    connected_ws,
    video_file,
    worker_thread,  # noqa: F811
):
    log_in(page, live_server, bob)
    open_compose(page, live_server, workspace)
    token = page.locator("input[name='token']").input_value()
    page.get_by_role("checkbox", name="TikTok").check()
    page.get_by_label("Description").fill("Sent once")
    page.get_by_label("Video", exact=True).set_input_files(video_file("back.webm", seconds=4))
    expect(page.locator("[data-video-facts]")).to_contain_text("180×320")
    page.get_by_test_id("compose-submit").click()
    expect_waiting_for_the_worker(page)
    page.go_back()
    expect(page.get_by_role("heading", name="New post")).to_be_visible()
    # Nothing of the sent form comes back half: no progress at 100 %, no old values without
    # their counters, video or cover; and a new one-time id (the old one only finds the post).
    expect(page.locator("[data-upload-progress]")).to_be_hidden()
    expect(page.locator("[data-cover-preview]")).to_be_hidden()
    expect(page.get_by_label("Description")).to_have_value("")
    expect(page.get_by_role("checkbox", name="TikTok")).not_to_be_checked()
    expect(page.locator("[data-video-facts]")).to_have_text("")
    assert page.locator("input[name='token']").input_value() != token
    # Ticking a network now counts as on a fresh page.
    page.get_by_role("checkbox", name="TikTok").check()
    expect(page.locator("[data-counters] li[data-network='TikTok']")).to_be_visible()


def test_the_compose_console_stays_clean_after_a_refused_form_and_a_submit(
    page: Page,
    live_server,
    bob,
    workspace,
    connected_ws,
    video_file,
    worker_thread,  # noqa: F811
    console_errors,
):
    log_in(page, live_server, bob)
    open_compose(page, live_server, workspace)
    page.get_by_label("Description").fill("No network chosen")
    page.get_by_label("A different caption for some networks").check()
    page.get_by_label("Video", exact=True).set_input_files(video_file("refused.webm", seconds=4))
    expect(page.locator("[data-video-facts]")).to_contain_text("180×320")
    # Refused by the server: the form is redrawn by htmx (422), then "Save as draft" refused too.
    with page.expect_response(lambda r: r.status == 422):
        page.get_by_test_id("compose-submit").click()
    expect(page.get_by_text("Choose at least one account to post to.")).to_be_visible()
    page.get_by_label("Video", exact=True).set_input_files(video_file("refused.webm", seconds=4))
    with page.expect_response(lambda r: r.status == 422 and "/drafts/new/" in r.url):
        page.get_by_test_id("save-draft").click()
    expect(page.get_by_text("Choose at least one account to post to.")).to_be_visible()
    page.get_by_label("Add to queue").check()
    page.get_by_role("checkbox", name="TikTok").check()
    page.get_by_label("Video", exact=True).set_input_files(video_file("refused.webm", seconds=4))
    expect(page.locator("[data-video-facts]")).to_contain_text("180×320")
    page.get_by_test_id("compose-submit").click()
    expect(page.get_by_test_id("when-error")).to_contain_text("no posting slots yet")
    # Then sent.
    page.get_by_label("Post now").check()
    page.get_by_label("Video", exact=True).set_input_files(video_file("refused.webm", seconds=4))
    expect(page.locator("[data-video-facts]")).to_contain_text("180×320")
    page.get_by_test_id("compose-submit").click()
    expect_waiting_for_the_worker(page)
    worker_thread.release()
    expect(page.get_by_test_id("post-live")).to_have_attribute("data-state", "sent", timeout=20_000)
    # Chromium logs each refused form's answer (422) as a failed load: that is the form's
    # answer, not an error of the page. Nothing else may be logged.
    others = [text for text in console_errors if "status of 422" not in text]
    assert others == []
    assert len(console_errors) == 3
