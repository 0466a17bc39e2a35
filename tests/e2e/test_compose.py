"""Compose and upload in a real browser, against the sandbox over HTTP.

The forward task runs for real: in the journey tests on a thread of its own, as the `uploads`
worker would, once the test has seen the page waiting for it (so the page shows both phases and
polls until the post is sent); elsewhere synchronously, as django-q2 runs tasks under pytest.

Nothing here sleeps: the tests wait for the state they expect (Playwright's ``expect``, or
``tests.polling.wait_until``), and move the sandbox's clock instead of waiting for it.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from posting import tasks
from posting.models import Post, PostResult
from posting.sending import queueing
from tests.e2e.test_keys import csp_violations, log_in  # noqa: F401 (fixture)
from tests.polling import wait_until
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_url, platform, sandbox_posts
from tests.videos import make_noise_file

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class Worker:
    """An `uploads` worker on a thread: it takes a queued post once the test lets it."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.go = threading.Event()
        self.stopped = False

    def release(self) -> None:
        self.go.set()

    def finish(self, posts: int) -> None:
        """Let the worker go and wait until it has forwarded ``posts`` posts in all: queued (a
        click's request may not have reached the queue yet) and done."""
        self.release()
        wait_until(lambda: len(self.threads) >= posts, what=f"{posts} post(s) queued", timeout=30)
        for thread in self.threads:
            thread.join(timeout=30)
            assert not thread.is_alive(), "the worker did not finish forwarding the post"

    def enqueue(self, post_id: int) -> None:
        def run():
            try:
                self.go.wait(60)
                if not self.stopped:
                    tasks.forward_post(post_id)
            finally:
                connection.close()  # this thread's own, as a worker closes its after a task

        thread = threading.Thread(target=run, daemon=True)
        self.threads.append(thread)
        thread.start()


@pytest.fixture
def worker_thread(monkeypatch):
    """Queueing hands the post to a ``Worker``, which runs the real forward task on a thread of
    its own after ``worker_thread.release()``: until then the page shows the post waiting.

    Caught where every forward is queued: django-q2's async_task as posting.sending.queueing
    calls it (every sender queues through ``queueing.enqueue_forward``), so no caller that
    imported something earlier can slip past."""
    worker = Worker()
    queue = queueing.async_task

    def async_task(func, *args, **kwargs):
        if func == queueing.FORWARD_TASK:
            return worker.enqueue(*args)
        return queue(func, *args, **kwargs)

    monkeypatch.setattr(queueing, "async_task", async_task)
    yield worker
    worker.stopped = not worker.go.is_set()  # never released: the test failed before; no forward
    worker.release()
    for thread in worker.threads:
        thread.join(timeout=30)


def expect_waiting_for_the_worker(page: Page) -> None:
    """The post page right after compose: the dashboard has the video, the worker has not taken
    it yet, and the page polls for what happens next. (The post's own progress comes first; a
    post with a caption per network shows its other Taisly posts' progress after it.)"""
    progress = page.get_by_test_id("post-progress").first
    expect(progress).to_have_attribute("data-state", "queued")
    expect(progress).to_contain_text("Waiting for the upload worker")
    expect(page.get_by_test_id("post-live")).to_have_attribute("hx-trigger", "load delay:1s")


def open_compose(page: Page, live_server, workspace, heading: str = "New post") -> None:
    page.goto(live_server.url + compose_url(workspace))
    expect(page.get_by_role("heading", name=heading)).to_be_visible()


def test_upload_and_post_now_to_two_platforms(
    page: Page,
    live_server,
    bob,
    workspace,
    connected_ws,
    sandbox,
    video_file,
    worker_thread,
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    log_in(page, live_server, bob)
    page.goto(live_server.url + reverse("accounts:workspace", kwargs={"code": workspace.code}))
    page.get_by_test_id("nav-new-post").first.click()
    expect(page.get_by_role("heading", name="New post")).to_be_visible()

    page.get_by_role("checkbox", name="TikTok").check()
    page.get_by_role("checkbox", name="Instagram").check()
    page.get_by_label("Description").fill("Kopi pagi #coffee")
    expect(page.locator("[data-counters] li[data-network='TikTok']")).to_have_text(
        "TikTok: 17 / 2,200 characters"
    )
    page.get_by_label("Video", exact=True).set_input_files(video_file("journey.webm", seconds=5))
    expect(page.locator("[data-video-facts]")).to_contain_text("180×320, portrait, 5.0 seconds")
    slider = page.locator("[data-cover-slider]")
    expect(slider).to_be_visible()
    slider.fill("2.5")
    expect(page.locator("[data-cover-second]")).to_have_value("2.5")
    page.screenshot(path=f"{screenshot_dir}/compose_filled.png", full_page=True)

    # Record the browser → dashboard phase as htmx reports it (reported out of the page: the
    # compose page then becomes the post's page).
    upload_seen: list[int] = []
    page.expose_function("reportUpload", lambda value: upload_seen.append(value))
    page.evaluate(
        """() => document.addEventListener("htmx:xhr:progress", () => window.reportUpload(
          Number(document.querySelector("[data-upload-bar]").value)))"""
    )
    page.get_by_test_id("compose-submit").click()
    expect_waiting_for_the_worker(page)
    expect(page).to_have_title(re.compile("^Kopi pagi #coffee · "))  # the post's page now
    wait_until(lambda: upload_seen and max(upload_seen) == 100, what="the upload at 100%")
    page.screenshot(path=f"{screenshot_dir}/compose_queued.png", full_page=True)
    # Then dashboard → Taisly, polled every second until the worker is done.
    worker_thread.release()
    live = page.get_by_test_id("post-live")
    expect(live).to_have_attribute("data-state", "sent", timeout=20_000)
    expect(live).not_to_have_attribute("hx-trigger", "load delay:1s")
    expect(page.locator("[data-testid=result][data-network=TikTok]")).to_be_visible()
    page.screenshot(path=f"{screenshot_dir}/compose_sent.png", full_page=True)

    post = Post.objects.get()
    assert post.cover_second == 2.5
    # The address bar names the post's page, so a reload (or a closed tab) loses nothing.
    post_page = reverse("posting:post", kwargs={"code": workspace.code, "post_code": post.code})
    assert page.url == live_server.url + post_page
    [made] = sandbox_posts(sandbox, connected_ws["api_key"])
    assert made["id"] == post.taisly_id and made["previewTime"] == 2.5

    # The sandbox publishes a second after the post is due (by its clock, moved on here); the
    # post page's own "Sync now" (posting.mirror.sync, one Taisly request) brings the results into
    # the mirror.
    sandbox.advance(2)
    page.reload()
    expect(page.get_by_test_id("post-progress")).to_have_count(0)  # sent: progress is over
    page.get_by_test_id("sync-now").click()
    for network in ("TikTok", "Instagram"):
        row = page.locator(f"[data-testid=result][data-network={network}]")
        expect(row).to_have_attribute("data-status", "SUCCESS")
    assert page.url == live_server.url + post_page
    assert set(PostResult.objects.values_list("status", flat=True)) == {"SUCCESS"}
    assert Post.objects.count() == 1  # the sync found ours, it made no copy
    page.screenshot(path=f"{screenshot_dir}/post_progress_success.png", full_page=True)
    assert csp_violations == []


def test_a_landscape_video_is_refused_in_the_browser_and_on_the_server(
    page: Page,
    live_server,
    bob,
    workspace,
    connected_ws,
    video_file,
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    log_in(page, live_server, bob)
    open_compose(page, live_server, workspace)
    page.get_by_role("checkbox", name="TikTok").check()
    landscape = video_file("wide.webm", width=320, height=180)
    page.get_by_label("Video", exact=True).set_input_files(landscape)
    errors = page.locator("[data-video-errors]")
    expect(errors).to_contain_text("The video is 320×180, landscape; Taisly needs a vertical 9:16")
    page.screenshot(path=f"{screenshot_dir}/compose_landscape_refused.png", full_page=True)
    # What htmx does with the click: its confirm step (where compose.js refuses) always comes
    # first, and a request it lets through starts at once, in the same turn.
    page.evaluate(
        """() => { window.submitRefused = null; window.requestsStarted = 0;
        const compose = (e) => e.target.matches("form[data-compose]");
        document.addEventListener("htmx:confirm", (e) => {
          if (compose(e)) window.submitRefused = e.defaultPrevented; });
        document.addEventListener("htmx:beforeRequest", (e) => {
          if (compose(e)) window.requestsStarted += 1; }); }"""
    )
    page.get_by_test_id("compose-submit").click()
    page.wait_for_function("window.submitRefused !== null")
    assert page.evaluate("[window.submitRefused, window.requestsStarted]") == [True, 0]
    expect(page.get_by_label("Video", exact=True)).to_be_focused()  # pointed at the problem
    expect(page.locator("[data-upload-progress]")).to_be_hidden()
    expect(page.get_by_test_id("post-progress")).to_have_count(0)
    assert not Post.objects.exists()

    # With the browser's check bypassed (a request of its own), the server refuses it too.
    token = page.locator("#compose-form input[name='csrfmiddlewaretoken']").input_value()
    response = page.request.post(
        live_server.url + compose_url(workspace),
        headers={"X-CSRFToken": token, "Referer": live_server.url},
        multipart={
            "token": page.locator("#compose-form input[name='token']").input_value(),
            "platforms": platform(workspace, "TikTok").taisly_id,
            "when": "now",
            "video": {
                "name": "wide.webm",
                "mimeType": "video/webm",
                "buffer": landscape.read_bytes(),
            },
        },
    )
    assert response.status == 422
    assert "320×180, landscape" in response.text()
    assert not Post.objects.exists()
    assert csp_violations == []


def test_an_upload_over_the_limit_is_refused_while_it_streams(
    page: Page,
    live_server,
    settings,
    bob,
    workspace,
    connected_ws,
    media,
    tmp_path,
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    # 1 MB stands in for 500 MB (the default, checked in tests/posting/test_probe.py).
    settings.POST_VIDEO_MAX_MB = 1
    log_in(page, live_server, bob)
    open_compose(page, live_server, workspace)
    page.get_by_role("checkbox", name="TikTok").check()

    over = make_noise_file(tmp_path / "over.mp4", 2)
    page.get_by_label("Video", exact=True).set_input_files(over)
    expect(page.locator("[data-video-errors]")).to_contain_text(
        "The file is 2 MB; Taisly takes videos up to 1 MB."
    )

    # Bypass the browser's check: the server stops reading the upload once it passes 1 MB.
    page.evaluate("document.querySelector('form[data-compose]').dataset.maxBytes = '1e12'")
    just_over = make_noise_file(tmp_path / "just-over.mp4", 1.02)
    page.get_by_label("Video", exact=True).set_input_files(just_over)
    expect(page.locator("[data-video-errors]")).to_be_empty()
    page.get_by_test_id("compose-submit").click()
    expect(page.get_by_test_id("video-error")).to_contain_text(
        "The file is larger than 1 MB, the most Taisly takes."
    )
    page.screenshot(path=f"{screenshot_dir}/compose_too_large.png", full_page=True)
    assert not Post.objects.exists()
    assert list((media / "tmp").iterdir()) == []
    assert csp_violations == []


def test_a_viewer_sees_no_compose_controls_and_gets_403(
    page: Page,
    live_server,
    vera,
    workspace,
    connected_ws,
    video_file,
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    log_in(page, live_server, vera)
    page.goto(live_server.url + reverse("accounts:workspace", kwargs={"code": workspace.code}))
    expect(page.get_by_test_id("nav-new-post")).to_have_count(0)
    response = page.goto(live_server.url + compose_url(workspace))
    assert response is not None and response.status == 403
    expect(page.locator("form[data-compose]")).to_have_count(0)

    token = page.context.cookies()
    csrf = next(c["value"] for c in token if c["name"] == "csrftoken")
    response = page.request.post(
        live_server.url + compose_url(workspace),
        headers={"X-CSRFToken": csrf, "Referer": live_server.url},
        multipart={
            "token": "7d0b5c83-5a28-4a55-9c3c-4a0d7ea2e1a1",
            "platforms": platform(workspace, "TikTok").taisly_id,
            "when": "now",
            "video": {
                "name": "ok.mp4",
                "mimeType": "video/mp4",
                "buffer": video_file().read_bytes(),
            },
        },
    )
    assert response.status == 403
    assert not Post.objects.exists()
    assert csp_violations == []


@pytest.mark.parametrize(("width", "language"), [(1280, "en"), (390, "en"), (390, "id")])
def test_the_compose_page_fits_the_screen(
    page: Page,
    live_server,
    bob,
    workspace,
    connected_ws,
    video_file,
    screenshot_dir,
    width,
    language,
):
    bob.language = language
    bob.save(update_fields=["language"])
    log_in(page, live_server, bob)
    page.set_viewport_size({"width": width, "height": 900})
    open_compose(
        page, live_server, workspace, heading="Postingan baru" if language == "id" else "New post"
    )
    page.locator("input[data-network='X']").check()
    page.locator("[data-description]").fill("x" * 120)
    expect(page.locator("[data-counters] li[role='alert']")).to_have_count(1)
    page.locator("[data-video-input]").set_input_files(video_file("fit.webm", seconds=4))
    expect(page.locator("[data-cover-slider]")).to_be_visible()
    page.locator("input[name='when'][value='later']").check()
    page.screenshot(path=f"{screenshot_dir}/compose_{width}_{language}.png", full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0


@pytest.mark.parametrize("width", [1280, 390])
def test_a_person_adopts_a_candidate_on_the_progress_page(
    page: Page,
    live_server,
    bob,
    workspace,
    connected_ws,
    screenshot_dir,
    width,
    csp_violations,  # noqa: F811
):
    tiktok = platform(workspace, "TikTok")
    now = timezone.now()
    post = Post.objects.create(
        workspace=workspace,
        author=bob,
        description="Kopi pagi",
        state=Post.State.NEEDS_CHECK,
        state_reason="Taisly may have posted this already (Taisly did not answer in time), so "
        "it is not sent again on its own. Check Taisly's history below, or send it again.",
        video_name="kopi.mp4",
        video_width=1080,
        video_height=1920,
        video_duration=12,
        video_size=12_000_000,
        send_candidates=[
            {
                "id": f"cand{n}",
                "description": "Kopi pagi",
                "date": (now - timedelta(minutes=n)).isoformat(),
                "results": [
                    {"platform_id": tiktok.taisly_id, "network": "TikTok", "status": "PENDING"}
                ],
            }
            for n in (1, 2)
        ],
    )
    post.target_platforms.add(tiktok)
    log_in(page, live_server, bob)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(
        live_server.url
        + reverse("posting:post", kwargs={"code": workspace.code, "post_code": post.code})
    )
    expect(page.get_by_test_id("adopt")).to_have_count(2)
    page.screenshot(path=f"{screenshot_dir}/post_needs_check_{width}.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.get_by_test_id("adopt").nth(1).click()
    expect(page.get_by_test_id("post-live")).to_have_attribute("data-state", "sent")
    post.refresh_from_db()
    assert post.taisly_id == "cand2"
    assert csp_violations == []


def test_taisly_down_ends_send_failed_and_an_editor_retries_from_the_page(
    page: Page,
    live_server,
    settings,
    bob,
    workspace,
    connected_ws,
    sandbox,
    video_file,
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    settings.POST_SEND_MAX_ATTEMPTS = 1
    sandbox.fault("500", count=2)  # the send, and the history read that follows it
    log_in(page, live_server, bob)
    open_compose(page, live_server, workspace)
    page.get_by_role("checkbox", name="TikTok").check()
    page.get_by_label("Video", exact=True).set_input_files(video_file("retry.webm", seconds=4))
    expect(page.locator("[data-video-facts]")).to_contain_text("180×320")
    page.get_by_test_id("compose-submit").click()
    progress = page.get_by_test_id("post-progress")
    expect(progress).to_have_attribute("data-state", "send_failed")
    expect(page.get_by_test_id("state-reason")).to_contain_text(
        "Taisly could not take the video after 1 try. Taisly had a problem of its own (HTTP 500)."
    )
    page.screenshot(path=f"{screenshot_dir}/post_send_failed.png", full_page=True)
    assert sandbox_posts(sandbox, connected_ws["api_key"]) == []

    page.get_by_test_id("retry-send").click()
    expect(page.get_by_test_id("post-live")).to_have_attribute("data-state", "sent")
    [made] = sandbox_posts(sandbox, connected_ws["api_key"])
    assert Post.objects.get().taisly_id == made["id"]
    assert csp_violations == []


@pytest.mark.parametrize("mode", ["500", "timeout", "garbage", "429", "drop"])
def test_each_sandbox_fault_ends_settled_and_never_posts_twice(
    page: Page,
    live_server,
    settings,
    bob,
    workspace,
    connected_ws,
    sandbox,
    video_file,
    mode,
    csp_violations,  # noqa: F811
):
    """The forward interrupted by each fault of the sandbox ends SENT, SEND_FAILED or
    NEEDS_CHECK on the post page, and the sandbox never holds two posts for the upload."""
    settings.POST_SEND_MAX_ATTEMPTS = 1  # no waiting for a backoff in a browser test
    settings.TAISLY_UPLOAD_READ_TIMEOUT = 1
    faults = {"timeout": {"delay": 3}, "429": {"retryAfter": 60}}
    sandbox.fault(mode, **faults.get(mode, {}))
    log_in(page, live_server, bob)
    open_compose(page, live_server, workspace)
    page.get_by_role("checkbox", name="TikTok").check()
    page.get_by_label("Video", exact=True).set_input_files(video_file("fault.webm", seconds=4))
    expect(page.locator("[data-video-facts]")).to_contain_text("180×320")
    page.get_by_test_id("compose-submit").click()
    expect(page.get_by_test_id("post-live")).to_have_attribute(
        "data-state", re.compile("^(sent|send_failed|needs_check)$"), timeout=20_000
    )
    post = Post.objects.get()
    assert post.state in (Post.State.SENT, Post.State.SEND_FAILED, Post.State.NEEDS_CHECK)
    expected = {"drop": "sent", "timeout": "needs_check"}.get(mode, "send_failed")
    assert post.state == expected, post.state_reason_display
    # A 500, garbage or 429 answers without carrying the call out; a drop carries it out before
    # dropping the answer; a timeout carries it out once its delay is over (after the client
    # gave up): wait for that post, then no second one may be there.
    if mode == "timeout":
        wait_until(
            lambda: sandbox_posts(sandbox, connected_ws["api_key"]),
            what="the sandbox to carry out the timed-out upload",
            every=0.2,
        )
    made = sandbox_posts(sandbox, connected_ws["api_key"])
    assert len(made) == (1 if mode in ("drop", "timeout") else 0), made
    # The post page (a reload, or a tab opened later) shows the same outcome.
    page.reload()
    if post.state != Post.State.SENT:
        expect(page.get_by_test_id("post-progress")).to_have_attribute("data-state", post.state)
        expect(page.get_by_test_id("state-reason").first).not_to_be_empty()
    assert csp_violations == []


def test_schedule_a_post_from_compose_then_cancel_it_from_its_page(
    page: Page,
    live_server,
    bob,
    workspace,
    connected_ws,
    sandbox,
    video_file,
    worker_thread,
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    """The whole journey in the dashboard: schedule for tomorrow, the worker sends it, the post
    page (where compose lands) offers the cancel, and Taisly no longer has it afterwards."""
    log_in(page, live_server, bob)
    open_compose(page, live_server, workspace)
    page.get_by_role("checkbox", name="TikTok").check()
    page.get_by_label("Description").fill("Tomorrow's coffee")
    page.get_by_label("Video", exact=True).set_input_files(video_file("later.webm", seconds=4))
    expect(page.locator("[data-video-facts]")).to_contain_text("180×320")
    page.get_by_label("Schedule").check()
    tomorrow = timezone.localtime() + timedelta(days=1)
    page.get_by_label("Date and time").fill(tomorrow.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_test_id("compose-submit").click()
    expect_waiting_for_the_worker(page)
    worker_thread.release()
    expect(page.get_by_test_id("post-live")).to_have_attribute("data-state", "sent", timeout=20_000)
    post = Post.objects.get()
    assert post.scheduled_at is not None and post.taisly_id
    [made] = sandbox_posts(sandbox, connected_ws["api_key"])
    assert made["scheduled"] is True

    page.reload()  # the post page: a sent post scheduled for tomorrow can be cancelled
    page.get_by_test_id("cancel-post").click()
    page.get_by_role("button", name="Cancel the post").click()
    expect(page.get_by_test_id("post-summary")).to_have_text("Cancelled")
    page.screenshot(path=f"{screenshot_dir}/compose_scheduled_cancelled.png", full_page=True)
    post.refresh_from_db()
    assert post.state == Post.State.CANCELLED
    assert sandbox_posts(sandbox, connected_ws["api_key"]) == []
    assert csp_violations == []


def test_too_many_uploads_at_once_is_said_on_the_page_with_javascript(
    page: Page,
    live_server,
    bob,
    workspace,
    connected_ws,
    video_file,
    settings,
    csp_violations,  # noqa: F811
):
    """The 429 for one upload too many is swapped in like a refused form: htmx fires its
    beforeSwap on the target, not on the form, and a listener on the form never heard it,
    so the click ended in silence."""
    from posting.models import UploadInProgress

    settings.POST_UPLOADS_PER_USER = 1
    UploadInProgress.objects.create(
        user=bob, workspace=workspace, expires_at=timezone.now() + timedelta(hours=1)
    )
    log_in(page, live_server, bob)
    open_compose(page, live_server, workspace)
    page.get_by_role("checkbox", name="TikTok").check()
    page.get_by_label("Video", exact=True).set_input_files(video_file("clip.mp4"))
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_test_id("compose-submit").click()
    assert answer.value.status == 429
    expect(page.locator("#compose")).to_contain_text("You already have 1 upload on its way in")
    assert not Post.objects.exists()
    assert csp_violations == []
