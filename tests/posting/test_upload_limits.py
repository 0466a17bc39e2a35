"""Uploads are bounded per person and per workspace (issue 15, item 2): one person has at most
POST_UPLOADS_PER_USER uploads on their way in, counted the same by every process, and a
workspace keeps at most WORKSPACE_VIDEO_STORAGE_MB of videos. Each refusal is a sentence in the
person's language. (Request bodies in general: test_request_bodies.py.)"""

from __future__ import annotations

import dataclasses
import re
import threading
import uuid
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from posting.models import Post, UploadInProgress
from posting.sending import limits, probe, queueing, receive
from posting.sending.errors import PostActionError
from tests.polling import backend_pid, wait_until, waits_on_a_lock
from tests.posting.test_request_bodies import text
from tests.posting.test_upload import post_form, temp_files
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_data, compose_url, platform


def draft_create_url(workspace) -> str:
    return reverse("posting:draft_create", kwargs={"code": workspace.code})


pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024


# --- Uploads on their way in, per person --------------------------------------------------------


def in_progress(user, workspace, *, minutes: int = 30) -> UploadInProgress:
    return UploadInProgress.objects.create(
        user=user, workspace=workspace, expires_at=timezone.now() + timedelta(minutes=minutes)
    )


def test_a_third_upload_while_two_are_arriving_is_refused_before_reading(
    login, bob, workspace, connected_ws, video_file, media, spooled
):
    in_progress(bob, workspace)
    in_progress(bob, workspace)
    response, _ = post_form(login(bob), workspace, video_file())
    assert response.status_code == 429
    assert "You already have 2 uploads on their way in" in response.content.decode()
    assert spooled == [] and not Post.objects.exists()
    assert UploadInProgress.objects.count() == 2


def test_the_limit_is_per_person_and_in_their_language(
    login, bob, alice, workspace, connected_ws, video_file, media
):
    in_progress(alice, workspace)
    in_progress(alice, workspace)
    response, _ = post_form(login(bob), workspace, video_file())
    assert response.status_code == 302  # alice's uploads do not count against bob
    bob.language = "id"
    bob.save(update_fields=["language"])
    in_progress(bob, workspace)
    in_progress(bob, workspace)
    response, _ = post_form(login(bob), workspace, video_file())
    assert response.status_code == 429
    assert "Anda sudah punya 2 unggahan yang sedang masuk." in response.content.decode()


def test_rows_of_a_process_that_died_stop_counting_at_their_expiry(
    login, bob, workspace, connected_ws, video_file, media
):
    in_progress(bob, workspace, minutes=-1)
    in_progress(bob, workspace, minutes=-1)
    response, _ = post_form(login(bob), workspace, video_file())
    assert response.status_code == 302
    assert not UploadInProgress.objects.exists()  # expired rows cleared, its own released


def test_the_upload_stops_counting_when_its_request_ends_however_it_ends(
    login, bob, workspace, connected_ws, video_file, media, monkeypatch
):
    seen = []
    real_create = receive.post_create

    def create_and_count(**kwargs):
        seen.append(UploadInProgress.objects.filter(user=bob).count())
        return real_create(**kwargs)

    monkeypatch.setattr(receive, "post_create", create_and_count)
    client = login(bob)
    assert post_form(client, workspace, video_file())[0].status_code == 302
    assert seen == [1] and not UploadInProgress.objects.exists()
    # Refused (a landscape video): released.
    wide = video_file("wide.mp4", width=320, height=180)
    assert post_form(client, workspace, wide)[0].status_code == 422
    assert not UploadInProgress.objects.exists()

    # Failed with an error: released too.
    def broken(**kwargs):
        raise RuntimeError("storage fell over")

    monkeypatch.setattr(receive, "post_create", broken)
    with pytest.raises(RuntimeError):
        post_form(client, workspace, video_file())
    assert not UploadInProgress.objects.exists()


@pytest.mark.postgres_only
def test_uploads_started_at_the_same_moment_in_several_processes_are_counted_once_each(
    bob, workspace
):
    """Six threads, each with its own database connection (as separate web processes have),
    start an upload for one person at once: exactly two are let in."""
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def start() -> None:
        try:
            barrier.wait(timeout=10)
            limits.upload_take(user=bob, workspace=workspace, size=1000)
            outcomes.append("in")
        except limits.UploadLimitReached:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["in", "in"] + ["refused"] * 4
    assert UploadInProgress.objects.filter(user=bob).count() == 2


# --- Kept videos per workspace ------------------------------------------------------------------


def kept_post(workspace, size: int, **fields) -> Post:
    return Post.objects.create(
        workspace=workspace,
        state=Post.State.SENT,
        video="posts/2026/01/kept.mp4",
        video_size=size,
        **fields,
    )


def test_an_upload_that_would_pass_the_workspace_storage_is_refused_with_what_is_used(
    settings, login, bob, workspace, connected_ws, video_file, media
):
    settings.WORKSPACE_VIDEO_STORAGE_MB = 1
    settings.POST_VIDEO_RETAIN_DAYS = 7
    video = video_file()
    assert video.stat().st_size > 1024
    kept_post(workspace, MIB - 1024)
    response, _ = post_form(login(bob), workspace, video)
    assert response.status_code == 422
    html = text(response)
    assert "This workspace already keeps 1023.0 KB of videos and may keep 1.0 MB" in html
    assert "deleted 7 days after its post was sent, cancelled or given up" in html
    assert Post.objects.count() == 1
    assert temp_files(media) == [] and list(media.glob("posts/**/*.mp4")) == []


@pytest.mark.parametrize("page", ["compose", "draft"])
def test_a_video_that_cannot_fit_is_refused_from_content_length_before_a_byte_is_read(
    settings, login, bob, workspace, connected_ws, media, spooled, page
):
    """Content-Length already says the video cannot fit: 413 with the sentence, the body never
    read (no temp file opened), nothing kept. (A body whose Content-Length lies is checked
    again once it is in: the test above.)"""
    settings.WORKSPACE_VIDEO_STORAGE_MB = 1
    kept_post(workspace, MIB - 1024)
    big = SimpleUploadedFile("big.mp4", b"\0" * (300 * 1024), content_type="video/mp4")
    payload = {**compose_data(workspace, description="Kept?"), "video": big}
    url = compose_url(workspace) if page == "compose" else draft_create_url(workspace)
    response = login(bob).post(url, payload)
    assert response.status_code == 413
    html = text(response)
    assert "already keeps 1023.0 KB of videos and may keep 1.0 MB" in html
    # At least the body less what the other fields can take (64 KB): about 236 KB here.
    assert re.search(r"a video of 23\d\.\d KB or more does not fit\. Nothing was uploaded\.", html)
    assert spooled == [] and temp_files(media) == []
    assert Post.objects.count() == 1 and not UploadInProgress.objects.exists()


def test_deleted_videos_and_retries_do_not_count_and_what_fits_is_taken(
    settings, login, bob, workspace, connected_ws, video_file, media
):
    settings.WORKSPACE_VIDEO_STORAGE_MB = 1
    video = video_file()
    original = kept_post(workspace, MIB - video.stat().st_size)
    # Its retry shares the file; a deleted video frees its space.
    kept_post(workspace, original.video_size, retry_of=original)
    kept_post(workspace, MIB, video_deleted_at=timezone.now())
    Post.objects.filter(pk=kept_post(workspace, MIB).pk).update(video="")
    response, _ = post_form(login(bob), workspace, video)
    assert response.status_code == 302
    assert limits.workspace_storage(workspace).used == MIB


@pytest.mark.postgres_only
def test_two_members_cannot_both_take_the_last_space(
    settings, alice, bob, workspace, connected_ws, video_file, media, monkeypatch
):
    """The check runs in post_create's transaction with the workspace's row locked: alice's
    upload, arriving while bob's is being accepted, waits for it and then sees its video."""
    settings.WORKSPACE_VIDEO_STORAGE_MB = 1
    monkeypatch.setattr(queueing, "enqueue_forward", lambda post_id: None)
    path = video_file()
    facts = probe.probe_video(str(path), name=path.name, size=path.stat().st_size)
    facts = dataclasses.replace(facts, size=600 * 1024)  # two of them do not fit in 1 MiB

    def create(actor) -> Post:
        return receive.post_create(
            workspace=workspace,
            actor=actor,
            video=SimpleUploadedFile("v.mp4", path.read_bytes()),
            facts=facts,
            platforms=[platform(workspace, "TikTok")],
            description="",
            cover_second=0,
            scheduled_at=None,
            token=uuid.uuid4(),
        )

    other: dict = {}

    def alices_upload() -> None:
        other["pid"] = backend_pid()
        try:
            create(alice)
            other["outcome"] = "accepted"
        except PostActionError as exc:
            other["outcome"] = exc.message
        finally:
            connection.close()

    real_check = limits.storage_check

    def check_then_let_alice_in(**kwargs):
        real_check(**kwargs)
        if "thread" not in other:
            # Bob's upload passed the check and its transaction is still open.
            other["thread"] = threading.Thread(target=alices_upload)
            other["thread"].start()
            wait_until(
                lambda: "outcome" in other or ("pid" in other and waits_on_a_lock(other["pid"])),
                what="alice's upload to wait for the lock (or to finish without one)",
            )

    monkeypatch.setattr(limits, "storage_check", check_then_let_alice_in)
    create(bob)
    other["thread"].join(timeout=30)
    assert "already keeps 600.0\xa0KB of videos and may keep 1.0\xa0MB" in other["outcome"]
    assert list(Post.objects.values_list("author__email", flat=True)) == [bob.email]


def test_the_form_says_the_limits_up_front(settings, login, bob, workspace, connected_ws, media):
    settings.WORKSPACE_VIDEO_STORAGE_MB = 2
    kept_post(workspace, MIB)
    html = text(login(bob).get(compose_url(workspace)))
    assert (
        "This workspace keeps 1.0 MB of videos and may keep 2.0 MB. You can send 2 uploads at "
        "a time." in html
    )
