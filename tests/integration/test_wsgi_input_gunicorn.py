"""Under a real gunicorn (gthread, as in production): a large body read straight from the socket
arrives whole, and the next request on the same keep-alive connection is served correctly,
whether the app read the whole body or stopped early."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))

APP = """
import hashlib
from taisly_dash.wsgi_input import GunicornSocketInput, buffered_input

def inner(environ, start_response):
    stream = environ["wsgi.input"]
    limit = int(environ.get("HTTP_X_READ_AT_MOST") or -1)
    digest, total = hashlib.sha256(), 0
    while limit < 0 or total < limit:
        part = stream.read(64 * 1024)
        if not part:
            break
        digest.update(part)
        total += len(part)
    direct = isinstance(getattr(stream, "raw", None), GunicornSocketInput)
    answer = f"{total} {digest.hexdigest()} {direct}".encode()
    start_response("200 OK", [("Content-Length", str(len(answer)))])
    return [answer]

application = buffered_input(inner)
"""


@pytest.fixture
def gunicorn(tmp_path):
    (tmp_path / "echo_app.py").write_text(APP)
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            [
                GUNICORN,
                "echo_app:application",
                "--pythonpath",
                f"{tmp_path},{ROOT}",
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
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        port = None
        while port is None and time.monotonic() < deadline:
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log.read_text())
            if found and "Booting worker" in log.read_text():
                port = int(found.group(1))
            elif process.poll() is not None:
                pytest.fail(f"gunicorn exited:\n{log.read_text()}")
            else:
                time.sleep(0.1)
        assert port, log.read_text()
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


def post(connection, body: bytes, headers: dict | None = None) -> list[str]:
    connection.request("POST", "/", body=body, headers=headers or {})
    response = connection.getresponse()
    assert response.status == 200
    return response.read().decode().split()


def test_a_large_body_from_the_socket_then_the_next_request_on_the_same_connection(gunicorn):
    large = os.urandom(5 * 1024 * 1024 + 321)
    small = b"small body"
    connection = http.client.HTTPConnection("127.0.0.1", gunicorn, timeout=30)
    try:
        assert post(connection, large) == [
            str(len(large)),
            hashlib.sha256(large).hexdigest(),
            "True",
        ]
        assert post(connection, small) == [
            str(len(small)),
            hashlib.sha256(small).hexdigest(),
            "False",
        ]
        # The app stops after 1 MiB (an upload over the limit); gunicorn drains the rest of the
        # body (under 64 KiB, which it drains rather than closing), and the next request on the
        # connection is read from where it really starts.
        stopped_early = os.urandom(1024 * 1024 + 48 * 1024 + 1)
        answer = post(connection, stopped_early, {"X-Read-At-Most": str(1024 * 1024)})
        assert answer[0] == str(1024 * 1024) and answer[2] == "True"
        assert post(connection, small)[:2] == [str(len(small)), hashlib.sha256(small).hexdigest()]
    finally:
        connection.close()
