"""A client that sends its body very slowly, against the dashboard under a real gunicorn (gthread,
as in production): the body's deadline (grace period plus its size at the minimum rate, set
small here) ends the request with a 408 and a sentence, the connection is closed, the partial
temp file of an upload is removed and the upload no longer counts against its person.

gunicorn runs the project's own WSGI application on the test database (which is why this needs
PostgreSQL: another process reads what the test committed)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from posting.models import UploadInProgress
from tests.polling import wait_until

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
CSRF_SECRET = "a" * 32


@pytest.fixture
def dashboard(tmp_path):
    """The dashboard under gunicorn on the test database; yields (port, media dir)."""
    media = tmp_path / "media"
    (media / "tmp").mkdir(parents=True)
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_ENV"))},
        "DJANGO_SETTINGS_MODULE": "taisly_dash.settings",
        "DJANGO_ENV": "development",
        "DATABASE_URL": url,
        "SANDBOX_DATABASE_URL": f"sqlite:///{tmp_path / 'unused-sandbox.sqlite3'}",
        "MEDIA_ROOT": str(media),
        "FILE_UPLOAD_TEMP_DIR": str(media / "tmp"),
        # A body has 3 s plus its size at 256 KiB/s: the bodies below are due within 4 s.
        "REQUEST_BODY_GRACE_SECONDS": "3",
        "REQUEST_BODY_MIN_RATE_KB": "256",
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            [
                GUNICORN,
                "taisly_dash.wsgi:application",
                "--worker-class",
                "gthread",
                "--threads",
                "2",
                "--workers",
                "1",
                "--bind",
                "127.0.0.1:0",
            ],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:

        def listening() -> int | None:
            if process.poll() is not None:
                raise AssertionError(f"gunicorn exited:\n{log.read_text()}")
            text = log.read_text()
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
            return int(found.group(1)) if found and "Booting worker" in text else None

        port = wait_until(listening, what="gunicorn to listen", timeout=30)
        yield port, media
    finally:
        process.terminate()
        process.wait(timeout=20)


class SlowClient:
    """Sends the request head and the first part of its body at once, then one byte every
    ``pause`` s until the server answers or closes (the attack review's client, faster)."""

    def __init__(self, port: int, head: bytes, first: bytes, pause: float = 0.2) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(head + first)
        self.pause = pause
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        while not self.stop.wait(self.pause):
            try:
                self.sock.send(b"x")
            except OSError:
                return

    def answer(self) -> tuple[int, str, bool]:
        """The status, the page, and whether the server then closed the connection (rather
        than wait for the rest of the body)."""
        data = b""
        while b"\r\n\r\n" not in data:
            data += self._recv()
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?im)^content-length: *(\d+)", head).group(1))
        while len(body) < length:
            body += self._recv()
        self.sock.settimeout(5)
        try:
            closed = self.sock.recv(1) == b""
        except TimeoutError:
            closed = False
        except ConnectionResetError:
            closed = True
        self.stop.set()
        self.sock.close()
        return int(head.split()[1]), body.decode(errors="replace"), closed

    def _recv(self) -> bytes:
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise AssertionError("no answer within 30 s: the body is still being read") from None
        assert chunk, "the server closed the connection without an answer"
        return chunk


def request_head(path: str, length: int, content_type: str, cookies: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\nCookie: {cookies}\r\n\r\n"
    ).encode()


def test_a_slow_upload_is_stopped_and_its_partial_file_removed(dashboard, bob, workspace):
    port, media = dashboard
    session = Client()
    session.force_login(bob)
    cookies = f"sessionid={session.cookies['sessionid'].value}; csrftoken={CSRF_SECRET}"
    boundary = "SlowBoundary"
    first = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
        f"{CSRF_SECRET}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="video"; filename="v.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode() + b"\0" * (64 * 1024)
    length = 256 * 1024  # due within 3 s + 1 s
    path = reverse("posting:compose", kwargs={"code": workspace.code})
    started = time.monotonic()
    client = SlowClient(
        port,
        request_head(path, length, f"multipart/form-data; boundary={boundary}", cookies),
        first,
    )
    # The upload is being received: its temp file exists, and it counts against bob.
    wait_until(
        lambda: (
            list((media / "tmp").iterdir()) and UploadInProgress.objects.filter(user=bob).exists()
        ),
        what="the upload's temp file, and the upload counted against bob",
    )

    status, page, closed = client.answer()
    assert status == 408, page[:2000]
    assert "The request arrived too slowly and was stopped" in page
    assert closed and time.monotonic() - started < 15
    assert list((media / "tmp").iterdir()) == []
    assert not UploadInProgress.objects.exists()


def test_a_slow_body_to_the_login_page_does_not_hold_a_thread(dashboard):
    port, _media = dashboard
    body = b"login=someone%40example.test&password=" + b"x" * 2000
    started = time.monotonic()
    client = SlowClient(
        port,
        request_head(
            "/login/",
            len(body) + 500,
            "application/x-www-form-urlencoded",
            f"csrftoken={CSRF_SECRET}",
        ),
        body,
    )
    status, page, closed = client.answer()
    assert status == 408
    assert "The request arrived too slowly and was stopped" in page
    assert closed and time.monotonic() - started < 15
