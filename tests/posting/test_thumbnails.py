"""Thumbnails: the frame at the cover time, made once by a worker from the kept video, served to
members only, kept after the video and deleted with the post; a placeholder where the dashboard
never had the video; the pages' query counts unchanged with them.

Videos are real (PyAV): each frame is flat grey at a level that tells its index
(tests/videos.py, ``make_timed_video``), so the thumbnail's pixels say which frame it was made
from. Tasks run synchronously under pytest (Q_CLUSTER ``sync``).
"""

from __future__ import annotations

import io
import logging
import re
from datetime import timedelta

import av
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from accounts.models import Workspace
from posting.models import Alert, Post
from posting.sending import cleanup, stored_video, thumbnails
from tests.posting.factories import bulk_posts, make_platforms, make_post
from tests.posting.upload_fixtures import *  # noqa: F403 (media, connected_ws, video_file...)
from tests.posting.upload_fixtures import compose_data, compose_url
from tests.videos import make_timed_video, timed_luma, turn_flag

pytestmark = pytest.mark.django_db

FPS = 10


# --- helpers -----------------------------------------------------------------------------------


def decoded(image: bytes) -> av.VideoFrame:
    with av.open(io.BytesIO(image)) as container:
        return next(container.decode(video=0))


def mean_luma(frame: av.VideoFrame, rows: slice | None = None) -> float:
    """The mean grey level of ``frame`` (of ``rows`` only, when given), padding left out."""
    plane = frame.planes[0]
    data = bytes(plane)
    lines = range(frame.height)[rows] if rows else range(frame.height)
    total = sum(sum(data[y * plane.line_size : y * plane.line_size + frame.width]) for y in lines)
    return total / (len(lines) * frame.width)


def kept_post(workspace, path, *, cover_second: float, **fields) -> Post:
    """A post made here whose video ``path`` is kept in the storage, as receive leaves it."""
    post = make_post(workspace, {}, cover_second=cover_second, **fields)
    with open(path, "rb") as fh:
        post.video.save("clip.mp4", ContentFile(fh.read()), save=False)
    Post.objects.filter(pk=post.pk).update(video=post.video.name)
    return Post.objects.get(pk=post.pk)


def thumbnail_of(post: Post) -> bytes:
    post.refresh_from_db()
    assert post.thumbnail, "no thumbnail was made"
    with post.thumbnail.open("rb") as fh:
        return fh.read()


def thumbnail_url(workspace, post, version: str | None = None) -> str:
    base = reverse(
        "posting:post_thumbnail", kwargs={"code": workspace.code, "post_code": post.code}
    )
    return f"{base}?v={version}" if version is not None else base


@pytest.fixture(scope="module")
def timed(tmp_path_factory):
    """``timed(**make_timed_video kwargs)`` → a video whose frames tell the time, made once."""
    root = tmp_path_factory.mktemp("timed-videos")
    made: dict = {}

    def make(**kwargs):
        key = tuple(sorted(kwargs.items()))
        if key not in made:
            made[key] = make_timed_video(root / f"{len(made)}.mp4", fps=FPS, **kwargs)
        return made[key]

    return make


# --- the frame -------------------------------------------------------------------------------


@pytest.mark.parametrize("keyframe_every", [5, None], ids=["keyframe-every-5", "one-keyframe"])
@pytest.mark.parametrize("cover_second", [0.0, 1.25, 2.05, 2.95])
def test_the_thumbnail_is_the_frame_shown_at_the_cover_time(
    workspace, media, timed, keyframe_every, cover_second
):
    post = kept_post(
        workspace, timed(keyframe_every=keyframe_every, seconds=3), cover_second=cover_second
    )

    thumbnails.thumbnail_make(post_id=post.pk)

    frame = decoded(thumbnail_of(post))
    shown = int(cover_second * FPS + 1e-9)  # the frame on screen at that time
    assert abs(mean_luma(frame) - timed_luma(shown)) < 2.5, (mean_luma(frame), shown)
    if shown:
        # Not the first frame, nor a neighbour: frames are 6 grey levels apart.
        assert abs(mean_luma(frame) - timed_luma(0)) > 5
    assert (frame.width, frame.height) == (180, 320)  # smaller than 360 px: kept as it is


def test_a_cover_time_past_the_end_takes_the_last_frame(workspace, media, timed):
    post = kept_post(workspace, timed(seconds=2), cover_second=9.0)

    thumbnails.thumbnail_make(post_id=post.pk)

    assert abs(mean_luma(decoded(thumbnail_of(post))) - timed_luma(19)) < 2.5


def test_a_large_video_is_scaled_to_360_px_tall_in_a_small_file(workspace, media, video_file):
    post = kept_post(workspace, video_file("tall.mp4", width=720, height=1280), cover_second=1)

    thumbnails.thumbnail_make(post_id=post.pk)

    image = thumbnail_of(post)
    frame = decoded(image)
    assert (frame.width, frame.height) == (202, 360)
    assert image[:4] == b"RIFF" and image[8:12] == b"WEBP"
    assert len(image) < 40_000
    assert re.fullmatch(r"thumbnails/\d{4}/\d{2}/[0-9a-f]{32}\.webp", post.thumbnail.name)


def test_a_phones_rotation_flag_is_applied(workspace, media, tmp_path):
    # Stored as landscape pixels, left half white, with a flag to show it turned a quarter
    # clockwise: shown upright it is portrait, white on top.
    path = turn_flag(
        make_timed_video(tmp_path / "wide.mp4", width=320, height=180, left_bright=True), 90
    )
    post = kept_post(workspace, path, cover_second=1)

    thumbnails.thumbnail_make(post_id=post.pk)

    frame = decoded(thumbnail_of(post))
    assert (frame.width, frame.height) == (180, 320)
    assert mean_luma(frame, slice(0, 150)) > 200
    assert mean_luma(frame, slice(170, 320)) < 50


# --- once, by a worker, from what was received -------------------------------------------------


def test_receiving_a_post_queues_its_thumbnail_once(
    login, bob, workspace, connected_ws, tmp_path, django_capture_on_commit_callbacks
):
    video = make_timed_video(tmp_path / "clip.mp4", width=180, height=320, seconds=4)
    payload = compose_data(workspace, cover_second="2.3")
    with django_capture_on_commit_callbacks(execute=True), open(video, "rb") as fh:
        response = login(bob).post(compose_url(workspace), {**payload, "video": fh})
    assert response.status_code in (200, 302), response.content.decode()[:1000]

    post = Post.objects.get()
    assert post.state == Post.State.SENT, post.state_reason
    assert abs(mean_luma(decoded(thumbnail_of(post))) - timed_luma(23)) < 2.5
    first = post.thumbnail.name

    # A redelivered task finds the thumbnail made: nothing is made or stored again.
    assert "already" in thumbnails.thumbnail_make(post_id=post.pk)
    post.refresh_from_db()
    assert post.thumbnail.name == first
    assert default_storage.exists(first)


def test_two_runs_at_once_keep_one_thumbnail(workspace, media, timed, monkeypatch):
    post = kept_post(workspace, timed(), cover_second=1)
    real_save = thumbnails._save

    def other_run_first(post_, image):
        # Another worker stores its thumbnail while this one decodes.
        Post.objects.filter(pk=post_.pk).update(thumbnail="thumbnails/2026/01/" + "a" * 32)
        return real_save(post_, image)

    monkeypatch.setattr(thumbnails, "_save", other_run_first)

    assert "another run" in thumbnails.thumbnail_make(post_id=post.pk)
    assert list(media.rglob("*.webp")) == []  # this run's file was removed again


def test_a_retry_of_failed_platforms_gets_its_own_thumbnail(
    workspace, connected_ws, alice, timed, django_capture_on_commit_callbacks
):
    from posting.sending import retry
    from tests.posting.upload_fixtures import platform

    tiktok = platform(workspace, "TikTok")
    post = kept_post(workspace, timed(), cover_second=2.05, taisly_id="original")
    post.results.create(platform=tiktok, status="FAILED", code="SANDBOX_FORCED_FAILURE")
    thumbnails.thumbnail_make(post_id=post.pk)

    with django_capture_on_commit_callbacks(execute=True):
        again = retry.post_retry_failed(post=post, actor=alice)

    again.refresh_from_db()
    assert again.thumbnail and again.thumbnail.name != Post.objects.get(pk=post.pk).thumbnail.name
    assert abs(mean_luma(decoded(thumbnail_of(again))) - timed_luma(20)) < 2.5


# --- a broken video, a failing storage ---------------------------------------------------------


def _garbled(path, tmp_path):
    """``path`` with its frames' bytes overwritten: the container (and so the probe) reads as
    before, but no frame can be decoded."""
    data = bytearray(path.read_bytes())
    start = data.find(b"mdat") + 4
    end = data.find(b"moov") - 4 if data.find(b"moov") > start else len(data)
    data[start:end] = bytes(range(256)) * ((end - start) // 256) + bytes((end - start) % 256)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    return broken


def test_a_broken_video_is_sent_anyway_and_keeps_its_placeholder(
    login,
    bob,
    workspace,
    connected_ws,
    video_file,
    tmp_path,
    caplog,
    django_capture_on_commit_callbacks,
):
    broken = _garbled(video_file("ok.mp4"), tmp_path)
    payload = compose_data(workspace)
    client = login(bob)
    with (
        caplog.at_level(logging.WARNING, logger="posting.sending.thumbnails"),
        django_capture_on_commit_callbacks(execute=True),
        open(broken, "rb") as fh,
    ):
        response = client.post(compose_url(workspace), {**payload, "video": fh})
    assert response.status_code in (200, 302), response.content.decode()[:1000]

    post = Post.objects.get()
    assert post.state == Post.State.SENT, post.state_reason  # the send did not wait or fail
    assert not post.thumbnail
    (line,) = [r for r in caplog.records if r.name == "posting.sending.thumbnails"]
    assert str(post.code) in line.getMessage() and "cannot be decoded" in line.getMessage()
    assert Schedule.objects.filter(name__contains="thumbnail").count() == 0  # not retried

    history = client.get(reverse("posting:history", kwargs={"code": workspace.code}))
    assert 'data-testid="thumbnail-placeholder" data-kind="none"' in history.content.decode()


def test_a_file_that_is_no_video_is_a_broken_video(workspace, media, caplog):
    post = make_post(workspace, {}, cover_second=1)
    post.video.save("junk.mp4", ContentFile(b"\x00junk" * 5000))

    with caplog.at_level(logging.WARNING, logger="posting.sending.thumbnails"):
        outcome = thumbnails.thumbnail_make(post_id=post.pk)

    assert "broken video" in outcome
    assert "placeholder stays" in caplog.text
    post.refresh_from_db()
    assert not post.thumbnail


def test_a_storage_that_fails_is_tried_again_later_then_given_up(
    workspace, media, timed, monkeypatch, caplog
):
    post = kept_post(workspace, timed(), cover_second=1)

    def unreadable(video):
        raise stored_video.StoredVideoUnreadable("the bucket does not answer")

    monkeypatch.setattr(stored_video, "open_video", unreadable)

    thumbnails.thumbnail_make(post_id=post.pk)
    (schedule,) = Schedule.objects.filter(name__contains="thumbnail")
    assert schedule.func == "posting.tasks.make_thumbnail"
    assert schedule.args == repr((post.pk, 2))
    assert schedule.cluster is None  # the default cluster
    assert schedule.next_run > timezone.now() + timedelta(seconds=50)

    with caplog.at_level(logging.ERROR, logger="posting.sending.thumbnails"):
        outcome = thumbnails.thumbnail_make(
            post_id=post.pk, attempt=thumbnails.THUMBNAIL_MAX_ATTEMPTS
        )
    assert "gave up" in outcome and "placeholder stays" in caplog.text
    assert Schedule.objects.filter(name__contains="thumbnail").count() == 1


def test_a_read_that_fails_midway_is_not_taken_for_the_end_of_the_video(timed):
    # A storage failing midway (a bucket's connection reset) must be a failure to try again,
    # not the end of the video, whose last frame read so far would be stored as the chosen one.
    data = timed(seconds=4, grain=12).read_bytes()
    middle = range(len(data) * 2 // 5, len(data) * 3 // 5)  # frames only: the index is at the end

    class FailsMidway(io.BytesIO):
        def read(self, size=-1):
            if self.tell() in middle:
                raise stored_video.StoredVideoUnreadable("connection reset")
            return super().read(size)

    assert data.find(b"moov") > middle.stop
    # Whole, it gives the frame at 3.5 s (grain and all, its mean tells which) ...
    whole = decoded(thumbnails.frame_at(io.BytesIO(data), 3.5))
    assert abs(mean_luma(whole) - timed_luma(35)) < 2.5
    # ... cut off in the middle, the storage's error, not an earlier frame.
    with pytest.raises(stored_video.StoredVideoUnreadable):
        thumbnails.frame_at(FailsMidway(data), 3.5)


# --- retention --------------------------------------------------------------------------------


def test_the_thumbnail_outlives_the_video_and_goes_with_the_post(
    workspace, media, timed, alice, login, django_capture_on_commit_callbacks
):
    post = kept_post(workspace, timed(), cover_second=1, sent_at=timezone.now())
    thumbnails.thumbnail_make(post_id=post.pk)
    post.refresh_from_db()
    name, video = post.thumbnail.name, post.video.name

    cleanup.videos_cleanup(now=timezone.now() + timedelta(days=30))

    post.refresh_from_db()
    assert not default_storage.exists(video) and not post.video
    assert default_storage.exists(name) and post.thumbnail.name == name
    page = login(alice).get(thumbnail_url(workspace, post, post.thumbnail_version))
    assert page.status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        Workspace.objects.filter(pk=workspace.pk).delete()  # with its posts
    assert not default_storage.exists(name)


# --- serving -----------------------------------------------------------------------------------


@pytest.fixture
def with_thumbnail(workspace, media, timed):
    post = kept_post(workspace, timed(), cover_second=1)
    thumbnails.thumbnail_make(post_id=post.pk)
    post.refresh_from_db()
    return post


def test_members_get_the_thumbnail_privately_cached(workspace, with_thumbnail, vera, login):
    post = with_thumbnail
    client = login(vera)  # a viewer: reading is enough

    response = client.get(thumbnail_url(workspace, post, post.thumbnail_version))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response.content == thumbnail_of(post)
    cache = response["Cache-Control"]
    assert "private" in cache and "max-age=31536000" in cache and "public" not in cache
    etag = response["ETag"]
    again = client.get(
        thumbnail_url(workspace, post, post.thumbnail_version), HTTP_IF_NONE_MATCH=etag
    )
    assert again.status_code == 304 and again.content == b""
    # Without the current version (an old page's URL) it is kept briefly only.
    stale = client.get(thumbnail_url(workspace, post, "old"))
    assert stale.status_code == 200 and "max-age=300" in stale["Cache-Control"]


def test_an_outsider_gets_404_and_nothing_is_read(
    workspace, with_thumbnail, charlie, login, monkeypatch
):
    read = []
    monkeypatch.setattr(thumbnails, "thumbnail_read", lambda post: read.append(post))
    post = with_thumbnail
    client = login(charlie)

    response = client.get(thumbnail_url(workspace, post, post.thumbnail_version))
    conditional = client.get(
        thumbnail_url(workspace, post, post.thumbnail_version),
        HTTP_IF_NONE_MATCH=f'"{post.thumbnail_version}"',
    )

    assert response.status_code == 404 and conditional.status_code == 404
    assert read == []


def test_a_post_of_another_workspace_is_404(workspace, with_thumbnail, charlie, login):
    own = Workspace.objects.create(name="Charlie's")
    own.memberships.create(user=charlie, role="owner")
    post = with_thumbnail

    response = login(charlie).get(thumbnail_url(own, post, post.thumbnail_version))

    assert response.status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(client, workspace, with_thumbnail):
    response = client.get(thumbnail_url(workspace, with_thumbnail))
    assert response.status_code == 302 and "/login" in response["Location"]


def test_a_post_without_a_thumbnail_is_404(workspace, alice, login):
    post = make_post(workspace, {}, origin=Post.Origin.HISTORY)
    assert login(alice).get(thumbnail_url(workspace, post)).status_code == 404


def test_only_get(workspace, with_thumbnail, alice, login):
    response = login(alice).post(thumbnail_url(workspace, with_thumbnail))
    assert response.status_code == 405


# --- the pages -------------------------------------------------------------------------------


def test_the_pages_show_the_thumbnail_or_say_why_there_is_none(
    workspace, with_thumbnail, alice, login
):
    platforms = make_platforms(workspace)
    found = make_post(
        workspace,
        platforms,
        {"TikTok": "FAILED:DESCRIPTION_TOO_LONG"},
        origin=Post.Origin.HISTORY,
        description="Made in Taisly",
    )
    Alert.objects.create(workspace=workspace, post=with_thumbnail, kind="send_failed")
    Alert.objects.create(
        workspace=workspace, post=found, platform=platforms["TikTok"], kind="failed"
    )
    client = login(alice)
    image = thumbnail_url(workspace, with_thumbnail, with_thumbnail.thumbnail_version)
    pages = {
        "history": reverse("posting:history", kwargs={"code": workspace.code}),
        "month": reverse("posting:calendar", kwargs={"code": workspace.code}),
        "week": reverse("posting:calendar_week", kwargs={"code": workspace.code}),
        "alerts": reverse("posting:alerts", kwargs={"code": workspace.code}),
        "overview": reverse("accounts:workspace", kwargs={"code": workspace.code}),
    }
    for name, address in pages.items():
        html = client.get(address).content.decode()
        assert f'src="{image}"' in html, name
        assert 'data-kind="taisly-app"' in html, name
        assert "img/video.svg" not in html, name

    post_page = client.get(
        reverse("posting:post", kwargs={"code": workspace.code, "post_code": with_thumbnail.code})
    ).content.decode()
    assert f'src="{image}"' in post_page
    assert "frame 1 s in" in post_page  # the image's alt text
    found_page = client.get(
        reverse("posting:post", kwargs={"code": workspace.code, "post_code": found.code})
    ).content.decode()
    assert "Made in Taisly's app" in found_page and "/thumbnail/" not in found_page


def _with_thumbnails(workspace, count):
    platforms = make_platforms(workspace)
    bulk_posts(workspace, platforms, count)
    Post.objects.filter(workspace=workspace).update(thumbnail="thumbnails/2026/01/" + "b" * 32)
    for post in Post.objects.filter(workspace=workspace)[:30]:
        Alert.objects.create(workspace=workspace, post=post, kind="send_failed")


@pytest.mark.parametrize("count", [3, 300])
def test_thumbnails_add_no_query_per_row(workspace, alice, login, django_assert_num_queries, count):
    _with_thumbnails(workspace, count)
    client = login(alice)
    # The same counts the pages' own tests pin without thumbnails: the thumbnail's name is a
    # column of the row each page already reads.
    pinned = {
        reverse("posting:history", kwargs={"code": workspace.code}): 7,
        reverse("posting:calendar", kwargs={"code": workspace.code}): 5,  # 5: the drafts
        reverse("posting:calendar_week", kwargs={"code": workspace.code}): 5,
        reverse("posting:alerts", kwargs={"code": workspace.code}): 6,
        reverse("accounts:workspace", kwargs={"code": workspace.code}): 8,
    }
    for address, queries in pinned.items():
        with django_assert_num_queries(queries):
            response = client.get(address)
        assert response.status_code == 200
        assert 'data-testid="thumbnail"' in response.content.decode(), address


def test_posts_kept_from_before_get_their_thumbnails_by_command(workspace, media, timed):
    from io import StringIO

    from django.core.management import call_command

    before = kept_post(workspace, timed(), cover_second=1)  # received before thumbnails
    gone = make_post(workspace, {}, video_deleted_at=timezone.now())  # its video is deleted
    found = make_post(workspace, {}, origin=Post.Origin.HISTORY)  # never had one
    out = StringIO()

    call_command("thumbnails_missing", stdout=out)

    assert "1 thumbnails queued" in out.getvalue()
    before.refresh_from_db()
    assert before.thumbnail
    for post in (gone, found):
        post.refresh_from_db()
        assert not post.thumbnail
    call_command("thumbnails_missing", stdout=out)  # again: nothing left to do
    assert "0 thumbnails queued" in out.getvalue()
