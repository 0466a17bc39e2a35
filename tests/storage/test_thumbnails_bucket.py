"""Thumbnails with the videos in an S3-compatible bucket (moto's server over HTTP): made from
the object streamed as FFmpeg asks for it (never downloaded whole), stored in the bucket beside
the video, served by the dashboard's own view, kept after the video, deleted with the post.

Tasks run synchronously under pytest (Q_CLUSTER ``sync``).
"""

from __future__ import annotations

import io
from datetime import timedelta

import av
import pytest
from django.urls import reverse
from django.utils import timezone
from storages.backends.s3 import S3File

from posting.models import Post
from posting.sending import cleanup, stored_video, thumbnails
from tests.posting.upload_fixtures import compose_data, compose_url
from tests.videos import make_timed_video, timed_luma

pytestmark = pytest.mark.django_db(transaction=True)


def _no_whole_downloads(self):
    raise AssertionError("S3File downloaded a whole object into its temporary file")


def _luma(image: bytes) -> float:
    with av.open(io.BytesIO(image)) as container:
        frame = next(container.decode(video=0))
    plane, data = frame.planes[0], bytes(frame.planes[0])
    rows = (
        data[y * plane.line_size : y * plane.line_size + frame.width] for y in range(frame.height)
    )
    return sum(sum(row) for row in rows) / (frame.width * frame.height)


def test_a_thumbnail_is_made_from_the_bucket_kept_there_and_served_to_members(
    login,
    bob,
    charlie,
    workspace,
    connected_ws,
    bucket,
    tmp_path,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    video = make_timed_video(tmp_path / "clip.mp4", seconds=4, grain=12, keyframe_every=10)
    read: list[int] = []
    real_readinto = stored_video.BucketObjectStream.readinto

    def counted(self, buffer):
        got = real_readinto(self, buffer)
        if self.name.endswith(".mp4"):
            read.append(got)
        return got

    monkeypatch.setattr(stored_video.BucketObjectStream, "readinto", counted)
    monkeypatch.setattr(S3File, "file", property(_no_whole_downloads))
    monkeypatch.setattr(thumbnails, "thumbnail_enqueue", lambda post_id: None)  # run it below
    client = login(bob)
    with django_capture_on_commit_callbacks(execute=True), open(video, "rb") as fh:
        response = client.post(
            compose_url(workspace), {**compose_data(workspace, cover_second="0.55"), "video": fh}
        )
    assert response.status_code in (200, 302), response.content.decode()[:1000]
    post = Post.objects.get()
    assert post.state == Post.State.SENT, post.state_reason
    read.clear()  # the forward's reads: not the thumbnail's

    thumbnails.thumbnail_make(post_id=post.pk)

    post.refresh_from_db()
    assert post.thumbnail.name.startswith("thumbnails/")
    assert bucket.keys() == sorted([post.video.name, post.thumbnail.name])
    assert bucket.local_files() == []  # nothing through this machine's disk
    # Only what FFmpeg asked for: the index and the frames up to the cover time, not the
    # whole object (the cover time is in the first seventh of the video).
    size = video.stat().st_size
    assert 0 < sum(read) < size * 0.6, (sum(read), size)

    url = reverse("posting:post_thumbnail", kwargs={"code": workspace.code, "post_code": post.code})
    served = client.get(f"{url}?v={post.thumbnail_version}")
    assert served.status_code == 200 and served["Content-Type"] == "image/webp"
    assert "private" in served["Cache-Control"]
    assert abs(_luma(served.content) - timed_luma(5)) < 2.5  # the frame at 0.55 s
    assert login(charlie).get(url).status_code == 404


def test_in_the_bucket_it_outlives_the_video_and_goes_with_the_post(
    workspace, bucket, tmp_path, alice, login, django_capture_on_commit_callbacks
):
    from django.core.files.base import ContentFile

    from tests.posting.factories import make_post

    post = make_post(workspace, {}, cover_second=1, sent_at=timezone.now())
    post.video.save(
        "clip.mp4", ContentFile(make_timed_video(tmp_path / "c.mp4").read_bytes()), save=True
    )
    thumbnails.thumbnail_make(post_id=post.pk)
    post.refresh_from_db()
    thumbnail = post.thumbnail.name

    cleanup.videos_cleanup(now=timezone.now() + timedelta(days=30))
    assert bucket.keys() == [thumbnail]
    url = reverse("posting:post_thumbnail", kwargs={"code": workspace.code, "post_code": post.code})
    assert login(alice).get(url).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        Post.objects.filter(pk=post.pk).delete()
    assert bucket.keys() == []
