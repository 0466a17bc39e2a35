"""taisly_dash.wsgi_input: a large body reaches the app whole, through one buffer; a small one
is left as it came."""

from __future__ import annotations

import io
import os

from taisly_dash.wsgi_input import BUFFER_BYTES, THRESHOLD_BYTES, buffered_input


class CountingInput:
    """A server's body reader that records the size of every read it was asked for."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.asked: list[int] = []

    def read(self, size: int = -1) -> bytes:
        self.asked.append(size)
        return self._data.read(size)


def run(body: bytes):
    server_input = CountingInput(body)
    seen = {}

    def app(environ, start_response):
        stream = environ["wsgi.input"]
        chunks = iter(lambda: stream.read(64 * 1024), b"")
        seen["body"] = b"".join(chunks)
        seen["wrapped"] = stream is not server_input
        return [b""]

    environ = {"CONTENT_LENGTH": str(len(body)), "wsgi.input": server_input}
    buffered_input(app)(environ, lambda *args: None)
    return seen, server_input.asked


def test_a_large_body_is_read_whole_in_big_reads():
    body = os.urandom(3 * BUFFER_BYTES + 12345)
    seen, asked = run(body)
    assert seen["wrapped"] and seen["body"] == body
    # The parser asked 64 KiB at a time; the server was asked a megabyte at a time.
    assert max(asked) == BUFFER_BYTES and len(asked) <= 6


def test_a_small_body_is_left_alone():
    body = b"x" * (THRESHOLD_BYTES - 1)
    seen, asked = run(body)
    assert not seen["wrapped"] and seen["body"] == body
    assert asked[0] == 64 * 1024


def test_a_bad_content_length_is_left_to_django():
    environ = {"CONTENT_LENGTH": "lots", "wsgi.input": io.BytesIO(b"")}
    buffered_input(lambda environ, start_response: [b""])(environ, lambda *args: None)
    assert isinstance(environ["wsgi.input"], io.BytesIO)
