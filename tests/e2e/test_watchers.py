"""Watching a draft in a real browser, with JavaScript off (the button is a plain form): a
viewer watches a post in review, hears of the owner's comment in the app, then stops."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import Workspace
from posting.alerts import watchers
from posting.approvals import services as approvals
from posting.models import Alert, Draft
from posting.reviewlinks.comments import comment_add
from tests.e2e.test_drafts_edits import shoot
from tests.e2e.test_keys import log_in
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import save_draft

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_viewer_watches_a_draft_without_javascript(
    browser,
    live_server,
    login,
    alice,
    bob,
    vera,
    workspace,
    connected_ws,
    video_file,
    screenshot_dir,
):
    Workspace.objects.filter(pk=workspace.pk).update(approval_workflow="internal")
    save_draft(login(bob), workspace, video_file(), description="Spring launch teaser")
    draft = approvals.submit_for_review(draft=Draft.objects.latest("id"), actor=bob)
    page = browser.new_context(java_script_enabled=False).new_page()
    log_in(page, live_server, vera)
    page.goto(
        live_server.url
        + reverse("posting:draft", kwargs={"code": workspace.code, "draft_code": draft.code})
    )
    button = page.get_by_test_id("draft-watch-button")
    expect(button).to_have_text("Watch")
    shoot(page, screenshot_dir, "draft_watch_off")
    button.click()
    expect(page.get_by_text("You are watching this draft")).to_be_visible()
    expect(button).to_have_text("Stop watching")
    shoot(page, screenshot_dir, "draft_watch_on")

    comment_add(draft=draft, body="Please check the music", by_user=alice)
    assert Alert.objects.filter(kind=Alert.Kind.COMMENTED, recipient=vera).count() == 1
    assert watchers.is_watching(draft, vera)

    button.click()
    expect(page.get_by_text("You stopped watching this draft")).to_be_visible()
    expect(button).to_have_text("Watch")
    comment_add(draft=draft, body="And the cover", by_user=alice)
    assert Alert.objects.filter(kind=Alert.Kind.COMMENTED, recipient=vera).count() == 1
