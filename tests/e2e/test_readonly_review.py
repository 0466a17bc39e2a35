"""In a real browser: a viewer who reviews reads a draft as a preview (no form) with the repost
rule it triggers, the review link's page says the same, and an editor's edit of a held post says
it was saved and is back in review. Screenshots at 1280 and 390 px."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Membership
from posting.approvals import services as approvals
from posting.models import Draft
from tests.e2e.test_drafts_edits import local, shoot
from tests.e2e.test_keys import log_in
from tests.posting import test_approvals
from tests.posting.sandbox_posts import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.webhook_receiver import *  # noqa: F403 (fixtures)
from tests.reviewlinks import test_review_links
from tests.reviewlinks.fixtures import *  # noqa: F403 (fixtures)
from tests.reviewlinks.test_readonly_review import TIKTOK_RULE, add_rule

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

client_review = test_review_links.client_review
sent = test_review_links.sent
in_review = test_approvals.in_review


def test_a_client_reviewer_reads_the_draft_and_the_link_page(
    page: Page, browser, live_server, vera, workspace, client_review, sent, screenshot_dir
):
    Membership.objects.filter(user=vera, workspace=workspace).update(can_approve=True)
    Draft.objects.filter(pk=client_review.pk).update(
        captions={"Instagram": "Batik for Instagram #batik"},
        scheduled_at=timezone.now() + timedelta(days=2),
    )
    add_rule(workspace, "TikTok", "YouTube", taisly_id="r1")
    log_in(page, live_server, vera)
    page.goto(
        live_server.url
        + reverse(
            "posting:draft", kwargs={"code": workspace.code, "draft_code": client_review.code}
        )
    )
    expect(page.get_by_test_id("draft-preview")).to_be_visible()
    expect(page.get_by_test_id("repost-note")).to_have_text(TIKTOK_RULE)
    expect(page.get_by_test_id("review-approve")).to_be_visible()
    expect(page.locator("#compose-form")).to_have_count(0)
    shoot(page, screenshot_dir, "readonly_draft")

    _link, token = sent
    client = browser.new_context().new_page()
    client.goto(live_server.url + reverse("review:enter", args=[token]))
    expect(client.get_by_test_id("repost-note")).to_have_text(TIKTOK_RULE)
    shoot(client, screenshot_dir, "review_link_reposts")


def test_a_held_posts_edit_says_it_is_back_in_review(
    page: Page, live_server, alice, bob, workspace, in_review, screenshot_dir
):
    draft = in_review("internal", later=timedelta(hours=2))
    Draft.objects.filter(pk=draft.pk).update(scheduled_at=timezone.now() - timedelta(minutes=5))
    approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice)
    log_in(page, live_server, bob)
    page.goto(
        live_server.url
        + reverse("posting:draft", kwargs={"code": workspace.code, "draft_code": draft.code})
    )
    expect(page.get_by_test_id("review-held")).to_be_visible()
    page.get_by_label("Description").fill("A better caption")
    page.get_by_label("Date and time").fill(local(timezone.now() + timedelta(days=1)))
    page.get_by_test_id("draft-send").click()
    expect(page.get_by_text("Your changes are saved.")).to_be_visible()
    expect(page.get_by_test_id("review-state")).to_have_text("In review")
    assert page.url.endswith(f"/drafts/{draft.code}/")
    shoot(page, screenshot_dir, "held_edit_back_in_review")
