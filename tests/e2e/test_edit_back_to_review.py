"""Issue 18, edits after approval, in a browser: the edit form says that new content goes back to
review and what it costs; saved, the post page links the draft in review, whose page shows the
approved version beside the edit. At 1280 and 390 px, without CSP violations."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from posting import tasks
from posting.models import Draft, Post
from tests.e2e.test_drafts_edits import shoot
from tests.e2e.test_keys import csp_violations, log_in  # noqa: F401 (fixture)
from tests.posting.test_edit_back_to_review import approved  # noqa: F401 (fixture)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import sandbox_posts

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_approved_post_edited_goes_back_to_review(
    page: Page,
    live_server,
    bob,
    alice,
    approved,  # noqa: F811
    sandbox,
    connected_ws,
    queue,
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    post = approved
    log_in(page, live_server, bob)
    page.goto(
        live_server.url
        + reverse("posting:post", kwargs={"code": post.workspace.code, "post_code": post.code})
    )
    page.get_by_test_id("edit-post").click()
    expect(page.get_by_test_id("edit-review")).to_contain_text(
        "takes the post off Taisly's schedule (1 request, to cancel it)"
    )
    page.get_by_label("Description").fill("New words for review")
    shoot(page, screenshot_dir, "post_edit_review")
    page.get_by_test_id("edit-save").click()
    expect(page.get_by_text("sent back for review with your changes")).to_be_visible()

    assert queue == [("edit", post.pk)] and tasks.edit_post(post.pk) == "back_to_review"
    assert sandbox_posts(sandbox, connected_ws["api_key"]) == []
    page.reload()
    expect(page.get_by_test_id("post-live")).to_have_attribute("data-state", "cancelled")
    shoot(page, screenshot_dir, "post_back_to_review")
    page.get_by_test_id("review-draft-link").click()
    expect(page.get_by_test_id("review-from-post")).to_be_visible()
    expect(page.get_by_test_id("review-version")).to_have_count(2)
    shoot(page, screenshot_dir, "draft_back_to_review")
    draft = Draft.objects.get(from_post=post)
    assert draft.description == "New words for review"
    assert Post.objects.get(pk=post.pk).state == Post.State.CANCELLED
    assert csp_violations == []
