"""Thumbnails in a real browser: a video uploaded through compose shows its frame at the chosen
cover time in the history, the calendar (month and week), the post page, the alerts and the
overview, at 1280 and 390 px, under the strict CSP; a post made in Taisly's own app shows a
placeholder that says so; an outsider's browser gets 404 for the image.

Tasks run synchronously under pytest (Q_CLUSTER ``sync``): the upload's request makes the
forward and the thumbnail, as the two clusters would a moment later.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from posting.models import Alert, Post
from tests.e2e.test_keys import csp_violations, log_in  # noqa: F401 (fixture)
from tests.posting.factories import make_post
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_url, platform
from tests.videos import make_timed_video, timed_luma

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

#: What the page's own script reads of a thumbnail: loaded, its size, its mean grey level (a
#: canvas of the image as the browser decoded it), so the test sees what a person would.
LOOK = """img => {
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0;
  for (let i = 0; i < data.length; i += 4) sum += data[i + 1];
  return {complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
          green: sum / (data.length / 4), shown: img.getBoundingClientRect().width};
}"""


def _url(name, workspace, **kwargs) -> str:
    return reverse(f"posting:{name}", kwargs={"code": workspace.code, **kwargs})


def test_an_uploaded_video_shows_its_cover_frame_everywhere_it_is_listed(
    page: Page,
    live_server,
    bob,
    charlie,
    workspace,
    connected_ws,
    tmp_path,
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    video = make_timed_video(tmp_path / "timed.mp4", width=360, height=640, seconds=4)
    found = make_post(workspace, {}, origin=Post.Origin.HISTORY, description="Made over there")
    log_in(page, live_server, bob)
    page.goto(live_server.url + compose_url(workspace))
    page.get_by_role("checkbox", name="TikTok").check()
    page.get_by_label("Description").fill("Frame three point one")
    page.get_by_label("Video", exact=True).set_input_files(video)
    page.locator("[data-cover-slider]").fill("3.1")
    expect(page.locator("[data-cover-second]")).to_have_value("3.1")
    page.get_by_test_id("compose-submit").click()
    expect(page.get_by_test_id("post-live")).to_have_attribute("data-state", "sent")

    post = Post.objects.get(origin=Post.Origin.DASHBOARD)
    assert post.thumbnail, "the thumbnail was not made when the post was received"
    Alert.objects.create(
        workspace=workspace, post=post, platform=platform(workspace, "TikTok"), kind="failed"
    )
    pages = {
        "history": _url("history", workspace),
        "calendar_month": _url("calendar", workspace),
        "calendar_week": _url("calendar_week", workspace),
        "post": _url("post", workspace, post_code=post.code),
        "alerts": _url("alerts", workspace),
        "overview": reverse("accounts:workspace", kwargs={"code": workspace.code}),
    }
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for name, address in pages.items():
            page.goto(live_server.url + address)
            image = page.get_by_test_id("thumbnail").first
            image.scroll_into_view_if_needed()
            expect(image).to_be_visible()
            look = image.evaluate(LOOK)
            # The browser decoded the image the dashboard served, and it is the frame shown
            # at 3.1 s (frame 31 of a video whose frames are greys that tell their index).
            assert look["complete"] and (look["width"], look["height"]) == (202, 360), look
            assert abs(look["green"] - _rgb_grey(timed_luma(31))) < 4, (name, look)
            assert look["shown"] > 0
            page.screenshot(path=f"{screenshot_dir}/thumbnails_{name}_{width}.png", full_page=True)

        page.goto(live_server.url + _url("post", workspace, post_code=found.code))
        placeholder = page.get_by_test_id("thumbnail-placeholder")
        expect(placeholder).to_be_visible()
        expect(placeholder).to_have_attribute("data-kind", "taisly-app")
        expect(placeholder).to_contain_text("Made in Taisly's app")
        page.screenshot(path=f"{screenshot_dir}/thumbnails_placeholder_{width}.png")
    assert csp_violations == []

    # Another person's browser, signed in but not a member, gets nothing.
    image_url = page.evaluate("() => location.origin") + _url(
        "post_thumbnail", workspace, post_code=post.code
    )
    page.context.clear_cookies()
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server, charlie)
    assert page.request.get(image_url).status == 404


def _rgb_grey(luma: int) -> float:
    # Video range (16–235) as the browser shows it in full range (0–255).
    return (luma - 16) * 255 / 219


def test_a_drafts_thumbnail_loads_in_its_list_its_page_and_the_calendar(
    page: Page,
    live_server,
    bob,
    charlie,
    workspace,
    connected_ws,
    tmp_path,
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    from datetime import timedelta

    from django.utils import timezone

    from posting.models import Draft

    video = make_timed_video(tmp_path / "timed.mp4", width=360, height=640, seconds=4)
    when = timezone.localtime() + timedelta(days=1)
    log_in(page, live_server, bob)
    page.goto(live_server.url + compose_url(workspace))
    page.get_by_role("checkbox", name="TikTok").check()
    page.get_by_label("Description").fill("Draft at two point two")
    page.get_by_label("Video", exact=True).set_input_files(video)
    page.locator("[data-cover-slider]").fill("2.2")
    expect(page.locator("[data-cover-second]")).to_have_value("2.2")
    page.get_by_label("Schedule").check()
    page.get_by_label("Date and time").fill(when.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_test_id("save-draft").click()
    expect(page.get_by_text("The draft is saved. Nothing was sent to Taisly.")).to_be_visible()

    draft = Draft.objects.get()
    assert draft.thumbnail, "the thumbnail was not made when the draft was saved"
    pages = {
        "drafts": (_url("drafts", workspace), '[data-testid="draft-row"]'),
        "draft": (_url("draft", workspace, draft_code=draft.code), '[data-testid="draft-cover"]'),
        "calendar_month": (
            _url("calendar", workspace) + f"?month={when:%Y-%m}",
            '[data-testid="calendar-post"].is-draft',
        ),
        "calendar_week": (
            _url("calendar_week", workspace) + f"?date={when:%Y-%m-%d}",
            '[data-testid="calendar-post"].is-draft',
        ),
    }
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for name, (address, around) in pages.items():
            page.goto(live_server.url + address)
            image = page.locator(around).first.get_by_test_id("thumbnail")
            image.scroll_into_view_if_needed()
            expect(image).to_be_visible()
            look = image.evaluate(LOOK)
            # Loaded (naturalWidth > 0) and the frame shown at 2.2 s, not a placeholder.
            assert look["complete"] and look["width"] > 0, (name, look)
            assert (look["width"], look["height"]) == (202, 360), (name, look)
            assert abs(look["green"] - _rgb_grey(timed_luma(22))) < 4, (name, look)
            assert look["shown"] > 0
            assert page.evaluate("document.documentElement.scrollWidth") <= width, name
            page.screenshot(
                path=f"{screenshot_dir}/draft_thumbnails_{name}_{width}.png", full_page=True
            )
    assert csp_violations == []

    image_url = page.evaluate("() => location.origin") + _url(
        "draft_thumbnail", workspace, draft_code=draft.code
    )
    page.context.clear_cookies()
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server, charlie)
    assert page.request.get(image_url).status == 404
