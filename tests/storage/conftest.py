"""Fixtures for the object-storage tests: moto's S3-compatible server over HTTP for the session,
a fresh private bucket per test, and the dashboard's storage pointed at it through the same
settings code (``STORAGE_S3_*``) a deployment goes through."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from taisly_dash.settings import _media_storage
from tests.posting.upload_fixtures import *  # noqa: F403 (media, connected_ws, video_file...)
from tests.s3_server import S3Server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("s3")).start()
    yield server
    server.stop()


@dataclass
class Bucket:
    server: S3Server
    name: str
    media: Path

    def keys(self) -> list[str]:
        return self.server.keys(self.name)

    def local_files(self) -> list[str]:
        """Every file under MEDIA_ROOT (the upload temp dir included): none should stay."""
        return sorted(str(p.relative_to(self.media)) for p in self.media.rglob("*") if p.is_file())


def use_bucket(settings, monkeypatch, env: dict[str, str]) -> None:
    """Point the default storage at the bucket ``env`` (STORAGE_S3_*) describes."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # Assigning STORAGES resets Django's storages, default_storage (Post.video's) with them.
    settings.STORAGES = {**settings.STORAGES, "default": _media_storage()}


@pytest.fixture
def bucket(s3_server, settings, monkeypatch, media) -> Bucket:
    """Videos kept in a new, empty bucket on the S3 server; MEDIA_ROOT (``media``) stays for the
    upload temp dir alone."""
    name = s3_server.create_bucket()
    use_bucket(settings, monkeypatch, s3_server.env(name))
    return Bucket(server=s3_server, name=name, media=media)
