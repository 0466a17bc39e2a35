"""The calendar that plans, in a real browser against the sandbox over HTTP: a scheduled post
dragged to another day opens the "Move" confirmation, and confirming leaves exactly one Taisly
post, at the new time. The forward runs on the test's `uploads` worker thread
(tests.e2e.test_compose); the edit's cancel-and-remake task as django-q2 runs tasks under
pytest (at once). Screenshots of the week, the month and the move form at 1280 and 390 px."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Membership, Workspace
from posting.models import Draft, Post, PostingSlot
from tests.e2e.test_compose import worker_thread  # noqa: F401 (fixture)
from tests.e2e.test_drafts_edits import shoot
from tests.e2e.test_keys import csp_violations, log_in  # noqa: F401 (fixture)
from tests.posting.factories import make_platforms, make_post
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_data, compose_url, local, sandbox_posts

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def drag(page: Page, source, target) -> None:
    """An HTML5 drag of ``source`` onto ``target``, both in view at once (a pointer outside
    the viewport makes no drag events)."""
    page.set_viewport_size({"width": 1280, "height": 1600})
    source.drag_to(target)


def test_a_scheduled_post_dragged_to_another_day_is_one_taisly_post_at_the_new_time(
    page: Page,
    live_server,
    login,
    bob,
    workspace,
    connected_ws,
    sandbox,
    video_file,
    worker_thread,  # noqa: F811
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    # A post scheduled two days ahead at 10:00, and a draft beside it.
    day = timezone.localdate() + timedelta(days=2)
    when = timezone.make_aware(datetime.combine(day, time(10)))
    payload = compose_data(workspace, when="later", scheduled_at=local(when), description="Drag me")
    with open(video_file(), "rb") as fh:
        assert login(bob).post(compose_url(workspace), {**payload, "video": fh}).status_code == 302
    worker_thread.finish(1)
    post = Post.objects.get()
    assert post.state == Post.State.SENT
    [original] = sandbox_posts(sandbox, connected_ws["api_key"])
    Draft.objects.create(
        workspace=workspace, description="Draft idea", scheduled_at=when + timedelta(hours=3)
    )
    # A posting slot on the post's weekday: an open one shows on the week, a link to compose.
    PostingSlot.objects.create(workspace=workspace, weekday=day.weekday(), time=time(12))
    # Another day of the same week, at 15:00 (both days are to come).
    target = day + timedelta(days=1) if day.weekday() < 6 else day - timedelta(days=1)
    new_time = timezone.make_aware(datetime.combine(target, time(15)))

    log_in(page, live_server, bob)
    week = reverse("posting:calendar_week", kwargs={"code": workspace.code})
    page.goto(f"{live_server.url}{week}?date={day:%Y-%m-%d}")
    entry = page.locator(f'[data-testid="calendar-post"][data-move-url*="{post.code}"]')
    expect(entry).to_contain_text("Drag me")
    expect(page.locator('[data-testid="calendar-post"].is-draft')).to_contain_text("Draft idea")
    expect(page.get_by_test_id("calendar-slot")).to_contain_text("open slot")
    shoot(page, screenshot_dir, "calendar_week")

    drag(page, entry, page.locator(f'[data-drop-at="{target:%Y-%m-%d}T15:00"]'))

    # The drop only opens the confirmation: nothing has moved yet.
    expect(page.get_by_role("heading", name="Move the scheduled post")).to_be_visible()
    expect(page.get_by_test_id("move-new")).to_have_text(f"{new_time:%a %-d %b %Y, %H:%M}")
    expect(page.get_by_test_id("send-cost")).to_contain_text("This edit costs 2 Taisly requests")
    post.refresh_from_db()
    assert post.state == Post.State.SENT
    shoot(page, screenshot_dir, "calendar_move")
    page.get_by_test_id("move-confirm").click()

    expect(page.get_by_text("The move is on its way")).to_be_visible()
    worker_thread.finish(2)
    expect(page.get_by_test_id("post-live")).to_have_attribute("data-state", "sent", timeout=20_000)
    made = sandbox_posts(sandbox, connected_ws["api_key"])
    post.refresh_from_db()
    assert len(made) == 1 and made[0]["id"] == post.taisly_id != original["id"]
    assert post.due_at == new_time and post.scheduled_at == new_time
    assert Post.objects.count() == 1

    # The week shows it at its new hour; the month too.
    page.goto(f"{live_server.url}{week}?date={target:%Y-%m-%d}")
    expect(page.locator(f'[data-at="{target:%Y-%m-%d}T15:00"]')).to_contain_text("Drag me")
    month = reverse("posting:calendar", kwargs={"code": workspace.code})
    page.goto(f"{live_server.url}{month}?month={target:%Y-%m}")
    expect(page.locator(f'[data-date="{target:%Y-%m-%d}"]')).to_contain_text("Drag me")
    shoot(page, screenshot_dir, "calendar_month")
    assert csp_violations == []


def test_the_calendar_across_clients_shows_both_and_filters_to_one(
    page: Page,
    live_server,
    alice,
    workspace,
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    beta = Workspace.objects.create(name="Beta Coffee", kind=Workspace.Kind.CLIENT)
    Membership.objects.create(workspace=beta, user=alice, role=Membership.Role.EDITOR)
    when = timezone.make_aware(datetime.combine(timezone.localdate() + timedelta(days=1), time(9)))
    for space, text in ((workspace, "Acme launch"), (beta, "Beta latte art")):
        make_post(space, make_platforms(space), description=text, due_at=when)

    log_in(page, live_server, alice)
    page.goto(live_server.url + reverse("accounts:workspace", kwargs={"code": workspace.code}))
    page.get_by_test_id("workspace-switcher").hover()
    page.get_by_test_id("nav-calendar-everywhere").click()
    expect(page.get_by_role("heading", name="Calendar of all your workspaces")).to_be_visible()
    posts = page.get_by_test_id("calendar-post")
    expect(posts).to_have_count(2)
    expect(posts.filter(has_text="Beta latte art")).to_contain_text("Beta Coffee")
    page.get_by_role("link", name="Week").click()
    expect(posts).to_have_count(2)
    shoot(page, screenshot_dir, "calendar_everywhere_week")

    page.get_by_role("checkbox", name="Acme").uncheck()
    page.get_by_test_id("calendar-filter-apply").click()
    expect(posts).to_have_count(1)
    expect(posts).to_contain_text("Beta latte art")
    page.get_by_role("link", name="Month").click()
    expect(posts).to_have_count(1)
    shoot(page, screenshot_dir, "calendar_everywhere_month")
    posts.first.click()
    expect(page).to_have_url(re.compile(rf"/w/{beta.code}/posts/"))
    assert csp_violations == []
