"""Fixtures for the compose and upload tests: media in a temp dir, a workspace connected to a
fresh sandbox account with its platforms mirrored, real test videos, and helpers to post the
compose form. Test modules use them with ``from tests.posting.upload_fixtures import *``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.urls import reverse
from django.utils import timezone

from posting import tasks
from posting.connection import keys
from posting.models import Platform, Post
from posting.sending import queueing
from tests.videos import make_video

__all__ = [
    "compose_data",
    "compose_url",
    "connected_ws",
    "media",
    "no_queue",
    "platform",
    "queue",
    "sandbox_posts",
    "save_draft",
    "scheduled",
    "spooled",
    "video_file",
]


@pytest.fixture
def media(settings, tmp_path) -> Path:
    """MEDIA_ROOT and the upload temp dir under tmp_path (same filesystem, as in production)."""
    root = tmp_path / "media"
    temp = root / "tmp"
    temp.mkdir(parents=True)
    settings.MEDIA_ROOT = root
    settings.FILE_UPLOAD_TEMP_DIR = str(temp)
    return root


@pytest.fixture
def connected_ws(settings, sandbox, sandbox_account, workspace, alice, media):
    """``workspace`` with the sandbox account's key connected and its platforms mirrored."""
    settings.TAISLY_BASE_URL = sandbox.base_url
    keys.connection_connect(
        workspace=workspace, api_key=sandbox_account["api_key"], plan=None, actor=alice
    )
    for item in sandbox_account["platforms"]:
        # get_or_create: connecting may already store the platforms (posting.mirror.sync).
        Platform.objects.get_or_create(
            workspace=workspace,
            taisly_id=item["_id"],
            defaults={
                "network": item["platform"],
                "name": item["name"] or "",
                "connected": item["connected"],
            },
        )
    return sandbox_account


def platform(workspace, network: str) -> Platform:
    return Platform.objects.get(workspace=workspace, network=network)


@pytest.fixture(scope="session")
def video_file(tmp_path_factory):
    """``video_file(name, **make_video kwargs)`` → a real video, made once per session."""
    root = tmp_path_factory.mktemp("upload-videos")
    made: dict = {}

    def make(name: str = "ok.mp4", **kwargs) -> Path:
        key = (name, tuple(sorted(kwargs.items())))
        if key not in made:
            kwargs.setdefault("container", Path(name).suffix.lstrip(".") or "mp4")
            made[key] = make_video(root / f"{len(made)}-{name}", **kwargs)
        return made[key]

    return make


def compose_url(workspace) -> str:
    return reverse("posting:compose", kwargs={"code": workspace.code})


def compose_data(workspace, networks=("TikTok", "Instagram"), **extra) -> dict:
    data = {
        "token": str(uuid.uuid4()),
        "platforms": [platform(workspace, n).taisly_id for n in networks],
        "description": "A test post",
        "when": "now",
        "cover_second": "1",
    }
    data.update(extra)
    return data


def sandbox_posts(sandbox, api_key: str) -> list[dict]:
    """Every post the sandbox account has (first history page: tests make fewer than 10)."""
    response = requests.get(
        f"{sandbox.base_url}/post/history",
        params={"page": 1},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


@pytest.fixture
def spooled(monkeypatch):
    """Every temp file an upload handler opens, wherever it is (gone again by the time the
    answer is back, so looking at the directory afterwards is not enough)."""
    opened: list[str] = []
    real_init = TemporaryUploadedFile.__init__

    def recording_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        opened.append(self.temporary_file_path())

    monkeypatch.setattr(TemporaryUploadedFile, "__init__", recording_init)
    return opened


@pytest.fixture
def no_queue(monkeypatch):
    """Queueing records the post ids instead: the test runs the uploads worker's task."""
    queued: list[int] = []
    monkeypatch.setattr(queueing, "enqueue_forward", queued.append)
    return queued


def save_draft(client, workspace, video_path, **data):
    """The compose form's "Save as draft" with a real video: (response, the form's data)."""
    payload = compose_data(workspace, **data)
    with open(video_path, "rb") as fh:
        payload["video"] = fh
        return client.post(
            reverse("posting:draft_create", kwargs={"code": workspace.code}), payload
        ), payload


# --- A post scheduled at the sandbox, and the uploads cluster's tasks run by the test --------


@pytest.fixture
def queue(monkeypatch):
    """What would go to the uploads cluster, recorded: the test runs each task itself."""
    made: list[tuple[str, int]] = []
    monkeypatch.setattr(queueing, "enqueue_forward", lambda pk: made.append(("forward", pk)))
    monkeypatch.setattr(queueing, "enqueue_edit", lambda pk: made.append(("edit", pk)))
    return made


def local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def scheduled(login, bob, workspace, connected_ws, video_file, queue):
    """A post scheduled at Taisly (the sandbox) two days ahead, through the form and worker."""
    when = timezone.now() + timedelta(days=2)
    payload = compose_data(workspace, when="later", scheduled_at=local(when))
    with open(video_file(), "rb") as fh:
        response = login(bob).post(compose_url(workspace), {**payload, "video": fh})
    assert response.status_code == 302, response.content.decode()[:2000]
    post = Post.objects.get()
    assert tasks.forward_post(post.pk) == "sent"
    queue.clear()
    post.refresh_from_db()
    return post


def in_sandbox(sandbox, account) -> list[dict]:
    return sandbox_posts(sandbox, account["api_key"])
