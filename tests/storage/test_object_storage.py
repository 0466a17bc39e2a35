"""Videos in an S3-compatible bucket, against moto's server over HTTP on loopback: an upload is
kept there privately under a random name, the uploads worker streams it to the sandbox from the
bucket (never through django-storages' S3File, which would download it whole), a bucket that
fails makes a retry rather than a doubtful send, and retention empties the bucket.

The forward runs for real: django-q2 runs tasks synchronously under pytest (Q_CLUSTER ``sync``).
"""

from __future__ import annotations

import hashlib
import io
import re
import socket
from datetime import timedelta

import pytest
import requests
from botocore.exceptions import ReadTimeoutError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from storages.backends.s3 import S3File

from posting.models import Post
from posting.sending import cleanup, forward, stored_video
from posting.taisly.client import MultipartBody
from tests.posting.upload_fixtures import compose_data, compose_url, sandbox_posts
from tests.storage.conftest import use_bucket

pytestmark = pytest.mark.django_db(transaction=True)

#: What receive.py names a kept video: posts/<year>/<month>/<32 random hex digits><extension>.
RANDOM_NAME = re.compile(r"posts/\d{4}/\d{2}/[0-9a-f]{32}\.mp4")


def compose(client, workspace, path, **data):
    payload = compose_data(workspace, **data)
    with open(path, "rb") as fh:
        payload["video"] = fh
        return client.post(compose_url(workspace), payload, HTTP_HX_REQUEST="true")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_an_upload_is_kept_privately_in_the_bucket_and_forwarded_from_it(
    login,
    bob,
    workspace,
    connected_ws,
    sandbox,
    video_file,
    bucket,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    video = video_file("my holiday.mp4")
    # The forward must stream: S3File's whole-object download is not to be used at all.
    monkeypatch.setattr(S3File, "file", property(_no_whole_downloads))
    with django_capture_on_commit_callbacks(execute=True):
        response = compose(login(bob), workspace, video)
    assert response.status_code == 200, response.content.decode()[:2000]

    post = Post.objects.get()
    assert post.state == Post.State.SENT, post.state_reason
    # In the bucket, under a random name that says nothing of the uploaded one ...
    # (with its thumbnail beside it: tests/storage/test_thumbnails_bucket.py)
    assert bucket.keys() == sorted([post.video.name, post.thumbnail.name])
    assert RANDOM_NAME.fullmatch(post.video.name), post.video.name
    assert "holiday" not in post.video.name
    # ... and nowhere on this machine's disk (the upload's temp file is gone too).
    assert bucket.local_files() == []
    # The sandbox received exactly the uploaded bytes.
    assert sandbox.state()["lastUpload"]["sha256"] == sha256(video.read_bytes())
    assert len(sandbox_posts(sandbox, connected_ws["api_key"])) == 1

    # Private: no grant to everyone, an unsigned request is refused, a signed URL expires.
    grants = bucket.server.client.get_object_acl(Bucket=bucket.name, Key=post.video.name)
    assert all("URI" not in grant["Grantee"] for grant in grants["Grants"]), grants["Grants"]
    plain = f"{bucket.server.endpoint_url}/{bucket.name}/{post.video.name}"
    assert requests.get(plain, timeout=10).status_code == 403
    signed = default_storage.url(post.video.name)
    assert "X-Amz-Signature=" in signed and "X-Amz-Expires=300" in signed
    answer = requests.get(signed, timeout=10)
    assert answer.status_code == 200 and sha256(answer.content) == sha256(video.read_bytes())


def _no_whole_downloads(self):
    raise AssertionError("S3File downloaded a whole object into its temporary file")


def test_the_bucket_stream_reads_as_the_multipart_body_needs(bucket):
    data = bytes(range(256)) * 20_000  # 5 MB: several 1 MiB blocks
    name = default_storage.save("posts/2026/01/" + "a" * 32 + ".mp4", ContentFile(data))
    local = ContentFile(data, name="x.mp4")

    def body(fileobj) -> bytes:
        return b"".join(
            bytes(piece)
            for piece in MultipartBody(
                [("platforms", '["p1"]')],
                file_field="video",
                fileobj=fileobj,
                filename="x.mp4",
                content_type="video/mp4",
                boundary="b0undary",
            )
        )

    with stored_video.open_video(Post(video=name).video) as stream:
        assert isinstance(stream, stored_video.BucketObjectStream)
        assert stream.name.endswith("a" * 32 + ".mp4")
        assert stream.seek(0, io.SEEK_END) == len(data) and stream.tell() == len(data)
        assert stream.seek(0) == 0
        # The same bytes as from a file, block by block into one reused buffer.
        assert body(stream) == body(local)
        # A seek elsewhere reads on from there (a new ranged request).
        stream.seek(1_000_003)
        assert stream.read(10) == data[1_000_003:1_000_013]
        assert stream.read() == data[1_000_013:]
        assert stream.read(5) == b""

    with pytest.raises(FileNotFoundError):
        stored_video.open_video(Post(video="posts/2026/01/missing.mp4").video).__enter__()


def test_a_bucket_failing_mid_stream_retries_the_send_rather_than_doubting_it(
    workspace, alice, connected_ws, sandbox, bucket, video_file, monkeypatch
):
    post = _queued_post(workspace, alice, video_file())
    monkeypatch.setattr(stored_video.BucketObjectStream, "_open_body", _breaking_body)

    assert forward.post_forward(post_id=post.pk) == "retry"

    post.refresh_from_db()
    # Not NEEDS_CHECK, nothing to reconcile: a request cut short cannot have made a post.
    assert post.state == Post.State.QUEUED and post.next_attempt_at is not None
    assert not post.must_reconcile
    assert "could not be read from storage" in post.state_reason
    assert sandbox_posts(sandbox, connected_ws["api_key"]) == []


_real_open_body = stored_video.BucketObjectStream._open_body


def _breaking_body(self, start: int) -> None:
    """The bucket's answer arrives, then its stream breaks on the first read (a read timeout,
    which botocore raises as an OSError)."""
    _real_open_body(self, start)

    class Broken:
        def read(self, amount):
            raise ReadTimeoutError(endpoint_url="http://bucket")

        def close(self):
            pass

    self._body.close()
    self._body = Broken()


def test_an_unreachable_bucket_retries_the_send_later(
    workspace, alice, connected_ws, sandbox, bucket, video_file, settings, monkeypatch
):
    post = _queued_post(workspace, alice, video_file())
    _dead_bucket(settings, monkeypatch)

    assert forward.post_forward(post_id=post.pk) == "retry"

    post.refresh_from_db()
    assert post.state == Post.State.QUEUED and not post.must_reconcile
    assert sandbox_posts(sandbox, connected_ws["api_key"]) == []


def test_retention_deletes_from_the_bucket_and_survives_a_bucket_that_fails(
    workspace, alice, bucket, settings, monkeypatch
):
    now = timezone.now()
    old = [_kept_post(workspace, alice, sent_days_ago=8 + i) for i in range(2)]
    recent = _kept_post(workspace, alice, sent_days_ago=1)
    assert len(bucket.keys()) == 3

    # The bucket does not answer: the run stops, nothing is marked deleted, nothing raised.
    with monkeypatch.context() as broken:
        _dead_bucket(settings, broken)
        outcome = cleanup.videos_cleanup(now=now)
    assert outcome.storage_failed and outcome.videos_deleted == 0
    assert Post.objects.filter(video_deleted_at__isnull=False).count() == 0

    use_bucket(settings, monkeypatch, bucket.server.env(bucket.name))  # the real one again
    outcome = cleanup.videos_cleanup(now=now)
    assert (outcome.videos_deleted, outcome.storage_failed) == (2, False)
    assert bucket.keys() == [recent.video.name]
    for post in old:
        post.refresh_from_db()
        assert post.video.name == "" and post.video_deleted_at == now

    # With POST_VIDEO_RETAIN_DAYS=0 nothing sent is kept: the bucket is empty.
    settings.POST_VIDEO_RETAIN_DAYS = 0
    assert cleanup.videos_cleanup().videos_deleted == 1
    assert bucket.keys() == []


def _queued_post(workspace, alice, path) -> Post:
    from posting.models import Platform

    post = Post.objects.create(
        workspace=workspace,
        author=alice,
        state=Post.State.QUEUED,
        description="From the bucket",
        video_name=path.name,
        video_size=path.stat().st_size,
    )
    post.video.save(f"{'b' * 32}.mp4", ContentFile(path.read_bytes()), save=True)
    post.target_platforms.set(Platform.objects.filter(workspace=workspace, network="TikTok"))
    return post


def _kept_post(workspace, alice, *, sent_days_ago: int) -> Post:
    post = Post.objects.create(
        workspace=workspace,
        author=alice,
        state=Post.State.SENT,
        sent_at=timezone.now() - timedelta(days=sent_days_ago),
        video_name="clip.mp4",
    )
    post.video.save("clip.mp4", ContentFile(b"kept video bytes"), save=True)
    return post


def _dead_bucket(settings, monkeypatch) -> None:
    """The same bucket behind an endpoint where nothing listens; boto3 told not to retry (its
    default retries a refused connection with a backoff of seconds)."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    use_bucket(settings, monkeypatch, {"STORAGE_S3_ENDPOINT_URL": _closed_port_url()})


def _closed_port_url() -> str:
    """An http URL on loopback where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
