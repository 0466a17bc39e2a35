"""taisly_dash.wsgi_input: a large body reaches the app whole, through one buffer or, under
gunicorn, straight from the socket with gunicorn's reader left consistent; a small one is read
as the app asks; and every body stops at its deadline when the client sends it too slowly."""

from __future__ import annotations

import contextlib
import io
import os
import threading

import pytest

from taisly_dash import wsgi_input as wsgi_input_module
from taisly_dash.wsgi_input import (
    BODY_TIMED_OUT,
    BUFFER_BYTES,
    SOCKET_BUFFER_BYTES,
    THRESHOLD_BYTES,
    BodyTimedOut,
    GunicornSocketInput,
    body_seconds,
    buffered_input,
)


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


def test_a_small_body_is_read_as_the_app_asks_without_a_buffer():
    # Wrapped only for its deadline: every read goes to the server as the parser asked it.
    body = b"x" * (THRESHOLD_BYTES - 1)
    seen, asked = run(body)
    assert seen["wrapped"] and seen["body"] == body
    assert asked[: THRESHOLD_BYTES // (64 * 1024)] == [64 * 1024] * (THRESHOLD_BYTES // (64 * 1024))


def test_a_bad_content_length_is_left_to_django():
    environ = {"CONTENT_LENGTH": "lots", "wsgi.input": io.BytesIO(b"")}
    buffered_input(lambda environ, start_response: [b""])(environ, lambda *args: None)
    assert isinstance(environ["wsgi.input"], io.BytesIO)


# --- under gunicorn: straight from the socket -------------------------------------------------


def gunicorn_request(body: bytes, *, sent: bytes, ahead: bytes = b"", then: str = "close"):
    """A gunicorn body reader as gunicorn leaves it after the headers: ``ahead`` already read
    from the connection, ``sent`` still in the socket (a real socket pair). ``then``: what the
    client does after ``sent``: "close" its side, "stall" (send nothing, stay connected) or
    "trickle" (a byte every 50 ms, for as long as the connection lasts)."""
    import socket

    from gunicorn.http.body import Body, LengthReader
    from gunicorn.http.unreader import SocketUnreader

    server, client = socket.socketpair()
    done = threading.Event()

    def send() -> None:  # from a thread: more than a socket buffer holds
        with contextlib.suppress(OSError):  # a test that reads less closes the socket on it
            client.sendall(sent)
            if then == "close":
                client.shutdown(socket.SHUT_WR)
            while then == "trickle" and not done.wait(0.05):  # the slow client's pace
                client.send(b"x")

    sender = threading.Thread(target=send, daemon=True)
    sender.start()

    def close() -> None:
        done.set()
        server.shutdown(socket.SHUT_RDWR)
        sender.join(timeout=10)
        server.close()
        client.close()

    unreader = SocketUnreader(server)
    unreader.unread(ahead)
    wsgi_input = Body(LengthReader(unreader, len(body)))
    environ = {
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": wsgi_input,
        "gunicorn.socket": server,
    }
    return environ, wsgi_input, unreader, close


def read_through(environ, *, limit: int | None = None) -> bytes:
    seen = {}

    def app(environ, start_response):
        stream = environ["wsgi.input"]
        seen["stream"] = stream
        parts, total = [], 0
        while limit is None or total < limit:
            part = stream.read(64 * 1024)
            if not part:
                break
            parts.append(part)
            total += len(part)
        seen["body"] = b"".join(parts)
        return [b""]

    buffered_input(app)(environ, lambda *args: None)
    return seen


def test_under_gunicorn_a_large_body_comes_from_the_socket_and_the_next_request_stays():
    body = os.urandom(3 * BUFFER_BYTES + 777)
    following = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
    ahead, rest = body[:5000], body[5000:]
    environ, wsgi_input, unreader, close = gunicorn_request(
        body, ahead=ahead, sent=rest + following
    )
    try:
        seen = read_through(environ)
        assert isinstance(seen["stream"].raw, GunicornSocketInput)
        assert seen["body"] == body
        # gunicorn's count says the body is done, and what follows it is still on the socket.
        assert wsgi_input.reader.length == 0 and wsgi_input.read(1024) == b""
        assert unreader.read() == following
    finally:
        close()


def test_under_gunicorn_a_pipelined_request_read_ahead_is_given_back():
    body = os.urandom(THRESHOLD_BYTES + 10)
    following = b"GET /next HTTP/1.1\r\n\r\n"
    # Everything, the next request too, was read ahead with the headers.
    environ, wsgi_input, unreader, close = gunicorn_request(body, ahead=body + following, sent=b"")
    try:
        seen = read_through(environ)
        assert seen["body"] == body
        assert unreader.read() == following
    finally:
        close()


def test_under_gunicorn_an_app_that_stops_early_leaves_gunicorn_the_true_rest():
    body = os.urandom(4 * BUFFER_BYTES)
    environ, wsgi_input, _unreader, close = gunicorn_request(
        body, ahead=body[:3000], sent=body[3000:]
    )
    try:
        seen = read_through(environ, limit=BUFFER_BYTES)  # an upload handler gave up here
        assert body.startswith(seen["body"])
        # gunicorn drains what is left (keep-alive): exactly the end of the body, all of it
        # but what the app took and at most one small buffer read ahead for it.
        rest = b"".join(iter(lambda: wsgi_input.read(1024 * 1024), b""))
        read_ahead = len(body) - len(seen["body"]) - len(rest)
        assert 0 <= read_ahead <= SOCKET_BUFFER_BYTES and body.endswith(rest)
    finally:
        close()


def test_under_gunicorn_a_body_someone_began_to_read_keeps_gunicorns_reader():
    body = os.urandom(THRESHOLD_BYTES + 4096)
    environ, wsgi_input, _unreader, close = gunicorn_request(body, ahead=b"", sent=body)
    try:
        first = wsgi_input.read(100)
        seen = read_through(environ)
        assert not isinstance(seen["stream"].raw, GunicornSocketInput)
        assert first + seen["body"] == body
    finally:
        close()


def test_under_gunicorn_a_client_gone_mid_body_is_a_short_body_and_a_closed_connection():
    body = os.urandom(2 * BUFFER_BYTES)
    environ, wsgi_input, _unreader, close = gunicorn_request(
        body, ahead=b"", sent=body[: BUFFER_BYTES + 5]
    )
    try:
        seen = read_through(environ)
        assert seen["body"] == body[: BUFFER_BYTES + 5]
        assert wsgi_input.failed is True
    finally:
        close()


# --- a body sent too slowly -------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_the_deadline_is_the_grace_period_plus_the_size_at_the_minimum_rate(settings):
    settings.REQUEST_BODY_GRACE_SECONDS = 30
    settings.REQUEST_BODY_MIN_RATE_KB = 32
    assert body_seconds(0) == 30
    assert body_seconds(500 * 1024 * 1024) == 30 + 500 * 1024 / 32


def test_a_body_that_trickles_in_stops_at_its_deadline(settings, monkeypatch):
    """One byte every 5 s (the attack review's client): each read succeeds, but the body as a
    whole is due within 2 s + 10 KiB at 1 KiB/s = 12 s, and reading stops there."""
    settings.REQUEST_BODY_GRACE_SECONDS = 2
    settings.REQUEST_BODY_MIN_RATE_KB = 1
    clock = FakeClock()
    monkeypatch.setattr(wsgi_input_module, "time", clock)

    class Trickle:
        reads = 0

        def read(self, size: int) -> bytes:
            clock.now += 5
            self.reads += 1
            return b"x"

    server_input = Trickle()
    environ = {"CONTENT_LENGTH": str(10 * 1024), "wsgi.input": server_input}

    def app(environ, start_response):
        while environ["wsgi.input"].read(64 * 1024):
            pass
        return [b""]

    with pytest.raises(BodyTimedOut):
        buffered_input(app)(environ, lambda *args: None)
    assert server_input.reads == 3  # at 5, 10 and 15 s; the read after 12 s is not made
    assert environ[BODY_TIMED_OUT] is True


@pytest.mark.parametrize("then", ["stall", "trickle"])
@pytest.mark.parametrize("size", [4096, 3 * BUFFER_BYTES], ids=["small body", "large body"])
def test_under_gunicorn_a_client_too_slow_is_cut_off_at_the_deadline(settings, size, then):
    """A real socket whose client sends part of the body, then nothing or a byte at a time,
    connection open: the read goes on only until the body's deadline, gunicorn is told to close
    the connection, and the socket is handed back to gunicorn as it was."""
    import time

    settings.REQUEST_BODY_GRACE_SECONDS = 0.3
    settings.REQUEST_BODY_MIN_RATE_KB = 1024 * 1024
    body = os.urandom(size)
    environ, wsgi_input, _unreader, close = gunicorn_request(
        body, ahead=b"", sent=body[:1000], then=then
    )
    sock = environ["gunicorn.socket"]
    try:
        started = time.monotonic()
        raised: list[BaseException] = []

        def read() -> None:
            try:
                read_through(environ)
            except BaseException as exc:  # noqa: BLE001 (looked at below)
                raised.append(exc)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout=10)
        assert not reader.is_alive(), "still reading the body 10 s on"
        assert [type(exc) for exc in raised] == [BodyTimedOut]
        assert 0.25 <= time.monotonic() - started < 5
        assert environ[BODY_TIMED_OUT] is True
        assert wsgi_input.failed is True
        assert sock.gettimeout() is None
    finally:
        close()
