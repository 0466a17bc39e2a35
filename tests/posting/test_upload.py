"""Compose and upload through the view and the services, against the sandbox over real HTTP.

The forward task runs for real: django-q2 runs tasks synchronously under pytest (Q_CLUSTER
``sync``), so once the request's transaction commits the upload is streamed to the sandbox.
"""

from __future__ import annotations

import io
import uuid
from datetime import time
from pathlib import Path

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.test import RequestFactory
from django.urls import reverse

from accounts.models import AuditEvent
from posting.models import Platform, Post, PostingSlot, RepostRule
from posting.sending import forward, queueing, receive
from posting.sending import views as compose_views
from posting.sending.uploadhandlers import LimitedTemporaryFileUploadHandler
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_data, compose_url, platform, sandbox_posts
from tests.videos import make_noise_file

pytestmark = pytest.mark.django_db(transaction=True)


def post_form(client, workspace, video_path, *, htmx=False, **data):
    payload = compose_data(workspace, **data)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    with open(video_path, "rb") as fh:
        payload["video"] = fh
        return client.post(compose_url(workspace), payload, **headers), payload


def temp_files(media):
    return sorted(p.name for p in (media / "tmp").iterdir())


# --- The page -----------------------------------------------------------------------------------


def test_the_form_lists_platforms_and_shows_disconnected_ones_unselectable(
    login, bob, workspace, connected_ws
):
    Platform.objects.filter(workspace=workspace, network="X").update(connected=False)
    response = login(bob).get(compose_url(workspace))
    assert response.status_code == 200
    html = response.content.decode()
    x = platform(workspace, "X")
    tiktok = platform(workspace, "TikTok")
    assert f'value="{tiktok.taisly_id}"' in html
    checkbox = html[html.index(f'value="{x.taisly_id}"') :].split(">", 1)[0]
    assert "disabled" in checkbox
    assert "Disconnected" in html
    assert 'data-limit="100"' in html and 'data-limit="2200"' in html
    assert "js/compose.js" in html
    assert "(UTC+0000)" in html


def test_the_compose_page_runs_a_fixed_number_of_queries(
    login, bob, workspace, connected_ws, django_assert_num_queries
):
    client = login(bob)
    for n in range(20):
        extra = Platform.objects.create(
            workspace=workspace, taisly_id=f"extra{n}", network="TikTok"
        )
        rule = RepostRule.objects.create(
            workspace=workspace, taisly_id=f"rule{n}", from_platform=extra
        )
        rule.to_platforms.set([platform(workspace, "YouTube")])
    # session, user, the user's memberships + workspaces (access and navigation), the networks
    # that may have a caption of their own, platforms, the key's status and kept storage, the
    # active repost rules and their target platforms, the posting slots
    with django_assert_num_queries(9):
        assert client.get(compose_url(workspace)).status_code == 200
    # With slots, the next free one ("Add to queue" says which): the posts at the next weeks'
    # slot times, one query more, however many slots.
    for day in range(7):
        PostingSlot.objects.create(workspace=workspace, weekday=day, time=time(9, day))
    with django_assert_num_queries(10):
        assert client.get(compose_url(workspace)).status_code == 200


def test_a_viewer_sees_no_form_and_gets_403_posting(
    login, vera, workspace, connected_ws, video_file
):
    client = login(vera)
    assert client.get(compose_url(workspace)).status_code == 403
    response, _ = post_form(client, workspace, video_file())
    assert response.status_code == 403
    assert not Post.objects.exists()


def test_an_outsider_gets_404(login, charlie, workspace, connected_ws):
    assert login(charlie).get(compose_url(workspace)).status_code == 404


def test_the_wrong_method_is_405(login, bob, workspace, connected_ws):
    assert login(bob).put(compose_url(workspace)).status_code == 405


def test_without_a_key_the_page_says_so(login, bob, workspace, media):
    response = login(bob).get(compose_url(workspace))
    assert response.status_code == 200
    assert b'data-testid="no-key"' in response.content


# --- Upload, queue, forward ---------------------------------------------------------------------


def test_an_editor_uploads_and_the_post_reaches_taisly(
    login,
    bob,
    workspace,
    connected_ws,
    sandbox,
    video_file,
    media,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        response, data = post_form(login(bob), workspace, video_file(), htmx=True)
    assert response.status_code == 200, response.content.decode()[:2000]
    post = Post.objects.get()
    assert post.state == Post.State.SENT, post.state_reason
    assert post.author == bob and post.attempts == 1
    assert (post.video_width, post.video_height) == (180, 320)
    assert post.video_name == video_file().name
    assert post.cover_second == 1.0
    assert post.idempotency_token == uuid.UUID(data["token"])
    assert post.taisly_id and post.sent_at and post.due_at
    assert post.progress_bytes == post.progress_total > post.video_size
    assert {r.platform.network for r in post.results.all()} == {"TikTok", "Instagram"}
    # The page becomes the post's page (its title, breadcrumb, actions), which follows the
    # upload and the results by itself.
    assert response["HX-Redirect"] == reverse(
        "posting:post", kwargs={"code": workspace.code, "post_code": post.code}
    )
    # Stored through the storage API under MEDIA_ROOT; the temp file was moved, not copied.
    assert (media / post.video.name).exists()
    assert temp_files(media) == []
    [sent] = sandbox_posts(sandbox, connected_ws["api_key"])
    assert sent["id"] == post.taisly_id
    assert sent["description"] == "A test post" and sent["previewTime"] == 1
    event = AuditEvent.objects.get(action=AuditEvent.Action.POST_CREATED)
    assert event.actor == bob and event.target == str(post.code)


def test_without_htmx_it_lands_on_the_post_page(
    login, bob, workspace, connected_ws, video_file, django_capture_on_commit_callbacks
):
    client = login(bob)
    with django_capture_on_commit_callbacks(execute=True):
        response, _ = post_form(client, workspace, video_file())
    post = Post.objects.get()
    page_url = reverse("posting:post", kwargs={"code": workspace.code, "post_code": post.code})
    assert response.status_code == 302 and response["Location"] == page_url
    page = client.get(page_url)
    assert page.status_code == 200
    assert b'data-testid="results"' in page.content  # sent: the results, no progress left


def test_the_same_token_twice_makes_one_post(
    login, bob, workspace, connected_ws, sandbox, video_file, django_capture_on_commit_callbacks
):
    client = login(bob)
    token = str(uuid.uuid4())
    with django_capture_on_commit_callbacks(execute=True):
        first, _ = post_form(client, workspace, video_file(), htmx=True, token=token)
        second, _ = post_form(client, workspace, video_file(), htmx=True, token=token)
    assert first.status_code == second.status_code == 200
    post = Post.objects.get()
    assert first["HX-Redirect"] == second["HX-Redirect"]
    assert str(post.code) in second["HX-Redirect"]
    assert len(sandbox_posts(sandbox, connected_ws["api_key"])) == 1


def test_a_token_of_another_person_is_refused(
    login, alice, bob, workspace, connected_ws, video_file, django_capture_on_commit_callbacks
):
    token = str(uuid.uuid4())
    with django_capture_on_commit_callbacks(execute=True):
        post_form(login(bob), workspace, video_file(), token=token)
        response, _ = post_form(login(alice), workspace, video_file(), token=token)
    assert response.status_code == 422
    assert "already used" in response.content.decode()
    assert Post.objects.count() == 1


def test_a_scheduled_post_is_sent_with_its_time(
    login, bob, workspace, connected_ws, sandbox, video_file, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    when = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    with django_capture_on_commit_callbacks(execute=True):
        response, _ = post_form(
            login(bob),
            workspace,
            video_file(),
            when="later",
            scheduled_at=when.strftime("%Y-%m-%dT%H:%M"),
        )
    assert response.status_code == 302
    post = Post.objects.get()
    assert post.state == Post.State.SENT and post.scheduled_at == when and post.due_at == when
    [sent] = sandbox_posts(sandbox, connected_ws["api_key"])
    assert sent["scheduled"] is True
    assert sent["scheduledAt"] == int(when.timestamp() * 1000)


def test_the_time_is_read_in_the_users_time_zone(login, bob, workspace, connected_ws, video_file):
    import zoneinfo
    from datetime import timedelta

    from django.utils import timezone

    bob.timezone = "Asia/Jakarta"
    bob.save()
    client = login(bob)
    assert "(UTC+0700)" in client.get(compose_url(workspace)).content.decode()
    # Three hours ago in Jakarta: read as UTC it would be four hours ahead, and accepted.
    jakarta = zoneinfo.ZoneInfo("Asia/Jakarta")
    past = timezone.localtime(timezone.now() - timedelta(hours=3), timezone=jakarta)
    response, _ = post_form(
        client, workspace, video_file(), when="later", scheduled_at=past.strftime("%Y-%m-%dT%H:%M")
    )
    assert response.status_code == 422
    assert "That time has already passed" in response.content.decode()


def test_a_time_in_the_past_is_refused_with_a_sentence(
    login, bob, workspace, connected_ws, video_file, media
):
    response, _ = post_form(
        login(bob), workspace, video_file(), when="later", scheduled_at="2020-01-01T10:00"
    )
    assert response.status_code == 422
    assert "That time has already passed" in response.content.decode()
    assert not Post.objects.exists()
    assert temp_files(media) == []


def test_a_landscape_video_is_refused_on_the_server(
    login, bob, workspace, connected_ws, video_file, media
):
    response, _ = post_form(
        login(bob), workspace, video_file("wide.mp4", width=320, height=180), htmx=True
    )
    assert response.status_code == 422
    assert "320×180, landscape" in response.content.decode()
    assert not Post.objects.exists()
    assert temp_files(media) == []
    assert list((media).glob("posts/**/*.mp4")) == []


def test_a_file_that_is_not_a_video_is_refused(login, bob, workspace, connected_ws, tmp_path):
    response, _ = post_form(login(bob), workspace, make_noise_file(tmp_path / "x.mp4", 0.2))
    assert response.status_code == 422
    assert "is not a video that can be read" in response.content.decode()


def test_a_description_too_long_for_x_is_refused(login, bob, workspace, connected_ws, video_file):
    response, _ = post_form(
        login(bob), workspace, video_file(), networks=("TikTok", "X"), description="x" * 101
    )
    assert response.status_code == 422
    assert "X takes at most 100 characters; this description has 101" in response.content.decode()
    # The same 101 characters are fine for TikTok alone.
    response, _ = post_form(
        login(bob), workspace, video_file(), networks=("TikTok",), description="x" * 101
    )
    assert response.status_code == 302


def test_a_disconnected_platform_cannot_be_chosen(login, bob, workspace, connected_ws, video_file):
    Platform.objects.filter(workspace=workspace, network="X").update(connected=False)
    response, _ = post_form(login(bob), workspace, video_file(), networks=("X",))
    assert response.status_code == 422
    assert not Post.objects.exists()


def test_no_platform_chosen_is_refused(login, bob, workspace, connected_ws, video_file):
    response, _ = post_form(login(bob), workspace, video_file(), networks=())
    assert response.status_code == 422
    assert "Choose at least one account" in response.content.decode()


# --- The size limit while streaming ------------------------------------------------------------


class CountingStream(io.BytesIO):
    """A request body that records how much of it the server read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk

    def readline(self, size=-1):
        line = super().readline(size)
        self.bytes_read += len(line)
        return line


def _request_with_counting_body(workspace, user, payload, *, content_length=None):
    factory = RequestFactory()
    built = factory.post(compose_url(workspace), payload)
    body = built.read()
    stream = CountingStream(body)
    environ = {**built.environ, "wsgi.input": stream}
    environ["CONTENT_LENGTH"] = str(content_length if content_length is not None else len(body))
    request = WSGIRequest(environ)
    request.user = user
    request.htmx = False
    request._dont_enforce_csrf_checks = True
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore

    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    return request, stream, len(body)


def test_the_upload_is_cut_off_once_it_passes_the_limit(
    settings, monkeypatch, bob, workspace, connected_ws, media, tmp_path
):
    settings.POST_VIDEO_MAX_MB = 1
    big = make_noise_file(tmp_path / "big.mp4", 8)
    payload = compose_data(workspace)
    with open(big, "rb") as fh:
        payload["video"] = fh
        request, stream, total = _request_with_counting_body(workspace, bob, payload)
    # Let it past the Content-Length check, so the streaming handler is what stops it.
    monkeypatch.setattr(compose_views, "FORM_OVERHEAD_BYTES", 10 * 1024 * 1024)
    response = compose_views.compose(request, code=workspace.code)
    assert response.status_code == 413
    assert "larger than 1 MB" in response.content.decode()
    # It stopped within a chunk of the limit, far from the 8 MB sent, and nothing was kept.
    chunk = LimitedTemporaryFileUploadHandler.chunk_size
    assert stream.bytes_read <= 1024 * 1024 + chunk + 64 * 1024 < total
    assert temp_files(media) == []
    assert not Post.objects.exists()
    # What was typed before the file comes back.
    assert "A test post" in response.content.decode()


class GeneratedBody(io.RawIOBase):
    """A multipart body of ``head`` + ``size`` generated bytes + ``tail``, made as it is read:
    a 501 MB upload without 501 MB in memory or on disk. Counts what the server read."""

    def __init__(self, head: bytes, size: int, tail: bytes) -> None:
        self.parts = [(head, len(head)), (None, size), (tail, len(tail))]
        self.total = len(head) + size + len(tail)
        self.position = 0
        self.bytes_read = 0
        self.filler = b"\x00\x01" * (512 * 1024)

    def readable(self) -> bool:
        return True

    def read(self, size=-1):
        if size is None or size < 0:
            size = self.total - self.position
        out = bytearray()
        while size > 0 and self.position < self.total:
            offset = self.position
            for data, length in self.parts:
                if offset < length:
                    take = min(size, length - offset)
                    if data is None:
                        start = offset % len(self.filler)
                        piece = (self.filler[start:] + self.filler)[:take]
                    else:
                        piece = data[offset : offset + take]
                    out += piece
                    self.position += len(piece)
                    size -= len(piece)
                    break
                offset -= length
        self.bytes_read += len(out)
        return bytes(out)

    def readline(self, size=-1):
        return self.read(size if size is not None and size >= 0 else 64 * 1024)


def test_a_501_mb_upload_is_refused_while_it_streams(
    settings, monkeypatch, bob, workspace, connected_ws, media
):
    """The real limit (500 MB, the default): a 501 MB video is cut off by the upload handler
    once it passes 500 MB, with a sentence; the rest is never read and nothing is kept."""
    settings.POST_VIDEO_MAX_MB = 500
    boundary = "BoUnDaRy501"
    fields = compose_data(workspace)
    head = b""
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            head += (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{item}\r\n'
            ).encode()
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="video"; filename="big.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = 501 * 1024 * 1024
    body = GeneratedBody(head, size, tail)
    environ = RequestFactory().post(compose_url(workspace)).environ
    environ.update(
        {
            "wsgi.input": body,
            "CONTENT_LENGTH": str(body.total),
            "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}",
        }
    )
    request = WSGIRequest(environ)
    request.user = bob
    request.htmx = False
    request._dont_enforce_csrf_checks = True
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore

    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    # Past the Content-Length check (which alone would refuse it unread), so the streaming
    # handler is what stops it.
    monkeypatch.setattr(compose_views, "FORM_OVERHEAD_BYTES", 10 * 1024 * 1024)
    response = compose_views.compose(request, code=workspace.code)
    assert response.status_code == 413
    assert "larger than 500 MB" in response.content.decode()
    chunk = LimitedTemporaryFileUploadHandler.chunk_size
    assert body.bytes_read <= 500 * 1024 * 1024 + len(head) + chunk + 64 * 1024 < body.total
    assert temp_files(media) == []
    assert not Post.objects.exists()


def test_a_body_announced_over_the_limit_is_refused_without_reading_it(
    settings, bob, workspace, connected_ws, media, tmp_path
):
    settings.POST_VIDEO_MAX_MB = 1
    payload = compose_data(workspace)
    with open(make_noise_file(tmp_path / "big.mp4", 2), "rb") as fh:
        payload["video"] = fh
        request, stream, total = _request_with_counting_body(workspace, bob, payload)
    response = compose_views.compose(request, code=workspace.code)
    assert response.status_code == 413
    assert "larger than 1 MB" in response.content.decode()
    assert stream.bytes_read == 0
    assert temp_files(media) == []


def test_a_viewers_big_upload_is_refused_before_reading(
    settings, vera, workspace, connected_ws, media, tmp_path
):
    from django.core.exceptions import PermissionDenied

    payload = compose_data(workspace)
    with open(make_noise_file(tmp_path / "v.mp4", 1), "rb") as fh:
        payload["video"] = fh
        request, stream, _ = _request_with_counting_body(workspace, vera, payload)
    with pytest.raises(PermissionDenied):
        compose_views.compose(request, code=workspace.code)
    assert stream.bytes_read == 0


# --- The claim --------------------------------------------------------------------------------


def queued_post(client, workspace, video_path, **data) -> Post:
    """A QUEUED post made through the form, its forward not yet run (on_commit not executed)."""
    response, _ = post_form(client, workspace, video_path, **data)
    assert response.status_code == 302, response.content.decode()[:2000]
    post = Post.objects.get()
    assert post.state == Post.State.QUEUED
    return post


@pytest.fixture
def no_forward(monkeypatch):
    """Queueing does nothing: the test runs the forward itself."""
    monkeypatch.setattr(queueing, "enqueue_forward", lambda post_id: None)


def test_two_runs_of_the_task_send_once(
    login, bob, workspace, connected_ws, sandbox, video_file, no_forward, monkeypatch
):
    from posting import tasks

    post = queued_post(login(bob), workspace, video_file())
    # The task is delivered again while the first run is still sending (a worker's retry, a
    # second cluster): the redelivery finds nothing to claim.
    redelivered = []
    real_progress = forward._Progress.__call__

    def progress_and_redeliver(self, sent, total):
        if not redelivered:
            redelivered.append(tasks.forward_post(post.pk))
        real_progress(self, sent, total)

    monkeypatch.setattr(forward._Progress, "__call__", progress_and_redeliver)
    assert tasks.forward_post(post.pk) == "sent"
    assert redelivered == ["not claimed"]
    # And once more after it was sent.
    assert tasks.forward_post(post.pk) == "not claimed"
    assert len(sandbox_posts(sandbox, connected_ws["api_key"])) == 1


def test_a_double_click_at_the_same_moment_makes_one_post(
    login, bob, workspace, connected_ws, sandbox, video_file, media, monkeypatch
):
    # The second click passes the "already made?" check before the first one commits: here
    # the other click runs to its end right after this one's check. The unique token decides,
    # and this request answers with the other's post and keeps no second video.
    real_lookup = receive._post_for_token
    other_click = {"done": False, "response": None}

    def lookup_while_the_other_click_lands(*args, **kwargs):
        found = real_lookup(*args, **kwargs)
        if found is None and not other_click["done"]:
            other_click["done"] = True
            other_click["response"], _ = post_form(login(bob), workspace, video_file(), token=token)
        return found

    monkeypatch.setattr(receive, "_post_for_token", lookup_while_the_other_click_lands)
    monkeypatch.setattr(queueing, "enqueue_forward", lambda post_id: None)
    token = str(uuid.uuid4())
    response, _ = post_form(login(bob), workspace, video_file(), token=token)

    post = Post.objects.get()
    assert response.status_code == other_click["response"].status_code == 302
    assert response["Location"] == other_click["response"]["Location"]
    assert str(post.code) in response["Location"]
    assert [p.name for p in (media / "posts").rglob("*.mp4")] == [Path(post.video.name).name]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.POST_CREATED).count() == 1
