"""The progress fragment (polled while the dashboard holds the post, 286 once done) and the daily
cleanup of kept videos and abandoned uploads."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_q.models import Schedule

from posting import tasks
from posting.models import Platform, Post, PostResult
from posting.schedules import CLEANUP_SCHEDULE, STALLED_SCHEDULE, ensure_schedules
from posting.sending import cleanup, decisions, errors, forward, outcomes, receive
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)

pytestmark = pytest.mark.django_db


def make_post(workspace, author, *, state=Post.State.QUEUED, video=True, **fields) -> Post:
    post = Post.objects.create(
        workspace=workspace,
        author=author,
        state=state,
        description="Hello",
        video_name="clip.mp4",
        video_size=1000,
        video_duration=4,
        video_width=180,
        video_height=320,
        **fields,
    )
    if video:
        post.video.save("clip.mp4", ContentFile(b"not really a video"), save=True)
    return post


def progress_url(post) -> str:
    return reverse(
        "posting:post_progress", kwargs={"code": post.workspace.code, "post_code": post.code}
    )


def test_a_pending_post_polls_every_second(login, vera, workspace, alice, media):
    post = make_post(
        workspace, alice, state=Post.State.SENDING, progress_bytes=50, progress_total=200
    )
    response = login(vera).get(progress_url(post), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'hx-trigger="load delay:1s"' in html and f'hx-get="{progress_url(post)}"' in html
    assert 'data-testid="forward-percent">25%' in html


@pytest.mark.parametrize("state", [Post.State.SENT, Post.State.SEND_FAILED, Post.State.NEEDS_CHECK])
def test_a_post_out_of_the_dashboards_hands_stops_the_polling_with_286(
    login, vera, workspace, alice, media, state
):
    post = make_post(workspace, alice, state=state)
    if state == Post.State.SENT:  # settled: every platform has its final result
        platform = Platform.objects.create(workspace=workspace, taisly_id="p1", network="X")
        PostResult.objects.create(post=post, platform=platform, status=PostResult.Status.SUCCESS)
    response = login(vera).get(progress_url(post), HTTP_HX_REQUEST="true")
    assert response.status_code == 286
    assert "hx-trigger" not in response.content.decode().replace(
        'hx-trigger="load" hx-swap="none"', ""
    )


def post_page(post) -> str:
    return reverse("posting:post", kwargs={"code": post.workspace.code, "post_code": post.code})


def test_without_htmx_the_progress_url_leads_to_the_post_page(login, vera, workspace, alice, media):
    post = make_post(workspace, alice)
    response = login(vera).get(progress_url(post))
    assert response.status_code == 302 and response["Location"] == post_page(post)


@pytest.mark.parametrize("state", [Post.State.QUEUED, Post.State.SENDING])
def test_the_post_page_shows_the_same_live_progress(login, vera, workspace, alice, media, state):
    # Closing the tab loses nothing: the post page polls the same fragment the upload showed.
    post = make_post(workspace, alice, state=state, progress_bytes=50, progress_total=200)
    html = login(vera).get(post_page(post)).content.decode()
    assert html.count('data-testid="post-progress"') == 1  # one progress, not two
    assert 'hx-trigger="load delay:1s"' in html and f'hx-get="{progress_url(post)}"' in html
    if state == Post.State.SENDING:
        assert 'data-testid="forward-percent">25%' in html


def test_the_post_page_shows_a_failed_send_and_retry_to_writers_only(
    login, vera, workspace, alice, media
):
    post = make_post(workspace, alice)
    Post.objects.filter(pk=post.pk).update(state=Post.State.SENDING)
    outcomes.fail(post, lambda: "Taisly could not be reached.")
    html = login(alice).get(post_page(post)).content.decode()
    assert "Taisly could not be reached." in html and 'data-testid="retry-send"' in html
    assert "load delay" not in html  # nothing left to poll (the nav badge has its own trigger)
    html = login(vera).get(post_page(post)).content.decode()
    assert "Taisly could not be reached." in html and 'data-testid="retry-send"' not in html


def test_a_reason_decided_in_the_worker_reads_in_the_viewers_language(
    login, vera, workspace, alice, media
):
    post = make_post(workspace, alice, state=Post.State.SENDING)
    outcomes.needs_check(post, lambda: _("Taisly did not answer in time."))
    type(vera).objects.filter(pk=vera.pk).update(language="id")
    html = login(vera).get(post_page(post)).content.decode()
    english = "Taisly may have posted this already"
    assert english not in html
    with translation.override("id"):
        indonesian = _("Taisly did not answer in time.")
    assert indonesian != "Taisly did not answer in time." and indonesian.rstrip(".") in html
    type(vera).objects.filter(pk=vera.pk).update(language="en")
    assert english in login(vera).get(post_page(post)).content.decode()


def test_a_viewer_sees_no_decisions(login, vera, workspace, alice, media):
    post = make_post(
        workspace,
        alice,
        state=Post.State.NEEDS_CHECK,
        send_candidates=[{"id": "abc", "description": "Hello", "results": []}],
    )
    html = login(vera).get(post_page(post)).content.decode()
    assert 'data-testid="candidates"' in html and "Hello" in html
    for control in ("adopt", "send-again", "give-up", "recheck"):
        assert f'data-testid="{control}"' not in html
    html = login(alice).get(post_page(post)).content.decode()
    for control in ("adopt", "send-again", "give-up", "recheck"):
        assert f'data-testid="{control}"' in html


def test_progress_of_another_workspaces_post_is_404(login, charlie, alice, workspace, media):
    post = make_post(workspace, alice)
    assert login(charlie).get(progress_url(post)).status_code == 404
    # charlie's own workspace with alice's post code: still 404.
    own = charlie.memberships.get().workspace
    url = reverse("posting:post_progress", kwargs={"code": own.code, "post_code": post.code})
    assert login(charlie).get(url).status_code == 404


def test_decisions_on_another_workspaces_post_are_404_and_change_nothing(
    login, charlie, alice, workspace, media
):
    post = make_post(workspace, alice, state=Post.State.SEND_FAILED)
    own = charlie.memberships.get().workspace
    url = reverse("posting:post_retry_send", kwargs={"code": own.code, "post_code": post.code})
    assert login(charlie).post(url).status_code == 404
    post.refresh_from_db()
    assert post.state == Post.State.SEND_FAILED


def test_decisions_need_post(login, alice, workspace, media):
    post = make_post(workspace, alice, state=Post.State.SEND_FAILED)
    url = reverse(
        "posting:post_retry_send", kwargs={"code": workspace.code, "post_code": post.code}
    )
    assert login(alice).get(url).status_code == 405


def test_the_progress_fragment_runs_a_fixed_number_of_queries(
    login, vera, workspace, alice, media, django_assert_num_queries
):
    post = make_post(workspace, alice, state=Post.State.SENT, taisly_id="t1")
    for n in range(12):
        platform = Platform.objects.create(workspace=workspace, taisly_id=f"p{n}", network="X")
        PostResult.objects.create(post=post, platform=platform)
        post.target_platforms.add(platform)
    client = login(vera)
    # 1 session, 2 user, 3 membership with its workspace, 4 the post, 5 results with their
    # platforms, 6 the other Taisly posts of a caption-per-network post, 7 retries with their
    # result counts, 8 audit events, 9 mirror state. Still polling: every result is PENDING.
    with django_assert_num_queries(9):
        response = client.get(progress_url(post), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.content.decode().count('data-testid="result"') == 12


# --- Retention ----------------------------------------------------------------------------------


def test_cleanup_deletes_videos_kept_past_retention_and_nothing_newer(
    settings, workspace, alice, media
):
    settings.POST_VIDEO_RETAIN_DAYS = 7
    now = timezone.now()
    old = make_post(workspace, alice, state=Post.State.SENT, sent_at=now - timedelta(days=8))
    recent = make_post(workspace, alice, state=Post.State.SENT, sent_at=now - timedelta(days=6))
    failed = make_post(workspace, alice, state=Post.State.SEND_FAILED)
    Post.objects.filter(pk=failed.pk).update(updated_at=now - timedelta(days=8))
    queued = make_post(workspace, alice, state=Post.State.QUEUED)
    Post.objects.filter(pk=queued.pk).update(updated_at=now - timedelta(days=30))
    old_path, recent_path = old.video.path, recent.video.path

    outcome = cleanup.videos_cleanup(now=now)

    assert outcome.videos_deleted == 2
    assert not os.path.exists(old_path) and os.path.exists(recent_path)
    old.refresh_from_db()
    assert old.video_deleted_at == now and not old.video and old.video_name == "clip.mp4"
    failed.refresh_from_db()
    assert failed.video_deleted_at == now
    queued.refresh_from_db()
    assert queued.video and queued.video_deleted_at is None  # still to be sent
    # A retry of a post whose video is gone is refused with a sentence.
    with pytest.raises(errors.PostActionError, match="no longer kept"):
        decisions.post_retry_send(post=failed, actor=alice)
    # Run again: nothing more to do.
    assert cleanup.videos_cleanup(now=now).videos_deleted == 0


def test_cleanup_removes_abandoned_uploads_older_than_a_day(media):
    temp = media / "tmp"
    stale, fresh = temp / "tmpabc.upload.mp4", temp / "tmpdef.upload.mp4"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    day_ago = time.time() - 25 * 3600
    os.utime(stale, (day_ago, day_ago))
    assert tasks.cleanup_videos() == "0 videos, 1 temp files deleted"
    assert not stale.exists() and fresh.exists()


def test_the_daily_cleanup_schedule_is_made_once(db):
    Schedule.objects.filter(name=CLEANUP_SCHEDULE).delete()
    ensure_schedules()
    ensure_schedules()
    schedule = Schedule.objects.get(name=CLEANUP_SCHEDULE)
    assert schedule.func == "posting.tasks.cleanup_videos"
    assert schedule.schedule_type == Schedule.DAILY and schedule.repeats == -1
    stalled = Schedule.objects.get(name=STALLED_SCHEDULE)
    assert stalled.func == "posting.tasks.check_stalled_sends" and stalled.minutes == 10
    # The sandbox's database never gets one.
    ensure_schedules(using="sandbox")
    assert Schedule.objects.filter(name=CLEANUP_SCHEDULE).count() == 1


def test_a_send_whose_worker_died_goes_to_a_check_not_a_resend(workspace, alice, media):
    now = timezone.now()
    dead = make_post(
        workspace, alice, state=Post.State.SENDING, progress_at=now - timedelta(hours=1)
    )
    alive = make_post(
        workspace, alice, state=Post.State.SENDING, progress_at=now - timedelta(minutes=5)
    )
    assert tasks.check_stalled_sends() == "1 stalled sends to be checked"
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.state == Post.State.NEEDS_CHECK and "worker stopped" in dead.state_reason
    assert alive.state == Post.State.SENDING
    assert Schedule.objects.filter(name__startswith=f"post {dead.code} recheck").exists()


def test_forward_progress_is_written_at_most_once_a_second(
    workspace, alice, media, django_assert_num_queries, monkeypatch
):
    post = make_post(workspace, alice, state=Post.State.SENDING)
    clock = [1000.0]
    monkeypatch.setattr(forward.time, "monotonic", lambda: clock[0])
    progress = forward._Progress(post.pk)
    # 1,000 callbacks over 2.5 seconds: a write at 0 s, 1 s, 2 s and the last one.
    with django_assert_num_queries(4):
        for n in range(1, 1001):
            clock[0] = 1000.0 + n * 0.0025
            progress(n * 100, 100_000)
    post.refresh_from_db()
    assert post.progress_bytes == post.progress_total == 100_000


def test_the_services_check_the_role_themselves(workspace, alice, vera, bob, media):
    import uuid

    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts.access import RoleRequired
    from accounts.models import Membership
    from posting.sending.probe import VideoFacts

    post = make_post(workspace, alice, state=Post.State.SEND_FAILED)
    with pytest.raises(RoleRequired):
        decisions.post_retry_send(post=post, actor=vera)
    # An editor demoted after the page was shown: the service sees the new role.
    Membership.objects.filter(user=bob).update(role=Membership.Role.VIEWER)
    platform = Platform.objects.create(workspace=workspace, taisly_id="p1", network="TikTok")
    with pytest.raises(RoleRequired):
        receive.post_create(
            workspace=workspace,
            actor=bob,
            video=SimpleUploadedFile("clip.mp4", b"x" * 100),
            facts=VideoFacts(container="MP4", width=180, height=320, duration=4, size=100),
            platforms=[platform],
            description="",
            cover_second=0,
            scheduled_at=None,
            token=uuid.uuid4(),
        )
    assert Post.objects.count() == 1
    # The stored video of the refused post was removed again.
    assert sorted(p.name for p in (media / "posts").rglob("*.mp4")) == [
        post.video.name.rsplit("/", 1)[-1]
    ]
