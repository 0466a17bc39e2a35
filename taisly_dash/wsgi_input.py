"""A large request body read without the WSGI server's own copying.

Django's multipart parser reads a body 64 KiB at a time. gunicorn's body reader answers each
read through three ``BytesIO`` buffers (its socket reader's, its length reader's and the body's),
copying every byte several times and allocating a fresh megabyte-sized buffer for each piece.
So for a body over ``THRESHOLD_BYTES``:

- under gunicorn (HTTP/1.1 with a Content-Length, a blocking socket, nothing read yet) the body
  is read straight from the connection's socket with ``recv_into``, after the few bytes gunicorn
  already read ahead with the headers. gunicorn's own count of what is left of the body is kept
  up to date on every read, so when the app stops early (an upload over the limit) gunicorn
  still drains or closes the connection where the body really ends;
- under any other server (or a gunicorn whose reader looks different) the body is read through
  one 1 MiB ``io.BufferedReader``: the server is asked for 1 MiB at a time and the parser's
  small reads come from the buffer.

Either way nothing is read that the body does not hold, and memory holds one small buffer.

Every body, large or small, also has an overall deadline: ``REQUEST_BODY_GRACE_SECONDS`` plus
its Content-Length at ``REQUEST_BODY_MIN_RATE_KB`` KiB/s (``body_seconds``). A client that sends
slower than that (a byte every few seconds, or nothing at all) does not hold a web thread for as
long as it likes: under gunicorn every read waits at most until the deadline (a socket timeout),
elsewhere the deadline is checked before each read. Past it the read raises ``BodyTimedOut``
(an ``OSError``, which Django turns into ``UnreadablePostError``), ``environ[BODY_TIMED_OUT]``
says so (``taisly_dash.request_body`` answers 408 and removes the partial upload), and gunicorn
closes the connection instead of draining the rest.
Whether this is worth driving gunicorn's internals is measured, not assumed:
tests/bench/bench_upload.py times the same uploads read this way, through gunicorn as it comes,
and through one 1 MiB buffer, against a receiver that only writes the bytes to disk (the
figures and the decision: docs/architecture.md, "Uploads: reading the body").
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable
from typing import Any

BUFFER_BYTES = 1024 * 1024
#: Smaller bodies (every form but an upload) are read as the app asks, within their deadline.
THRESHOLD_BYTES = 1024 * 1024
#: Reads at least this large go straight from the socket into the reader's result (as in
#: Django's own server); only smaller ones pass through this buffer.
SOCKET_BUFFER_BYTES = 8 * 1024
#: ``environ`` key (Django's ``request.META``) set when a body came too slowly.
BODY_TIMED_OUT = "taisly_dash.body_timed_out"
#: Used when no Django settings are at hand (a bare WSGI app in a test).
DEFAULT_GRACE_SECONDS = 30.0
DEFAULT_MIN_RATE_KB = 32.0


class BodyTimedOut(OSError):
    """The client did not send the request body within its deadline."""


def body_seconds(length: int) -> float:
    """How long a body of ``length`` bytes may take to arrive: the grace period plus its size
    at the minimum average rate (``REQUEST_BODY_GRACE_SECONDS``, ``REQUEST_BODY_MIN_RATE_KB``)."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        grace = float(getattr(settings, "REQUEST_BODY_GRACE_SECONDS", DEFAULT_GRACE_SECONDS))
        rate_kb = float(getattr(settings, "REQUEST_BODY_MIN_RATE_KB", DEFAULT_MIN_RATE_KB))
    except ImproperlyConfigured:  # a bare WSGI app without Django settings
        grace, rate_kb = DEFAULT_GRACE_SECONDS, DEFAULT_MIN_RATE_KB
    return grace + max(length, 0) / (rate_kb * 1024)


class _Deadline:
    """The moment by which the whole body must have arrived."""

    def __init__(self, environ: dict, length: int) -> None:
        self._environ = environ
        self._at = time.monotonic() + body_seconds(length)

    def remaining(self) -> float:
        """Seconds left; raises ``BodyTimedOut`` once there are none."""
        left = self._at - time.monotonic()
        if left <= 0:
            raise self.expired()
        return left

    def expired(self) -> BodyTimedOut:
        self._environ[BODY_TIMED_OUT] = True
        return BodyTimedOut("The request body did not arrive in time.")


def _timeout_socket(environ: dict) -> Any:
    """gunicorn's connection socket when reads from it can be given a timeout, else None."""
    sock = environ.get("gunicorn.socket")
    if hasattr(sock, "settimeout") and hasattr(sock, "gettimeout"):
        return sock
    return None


class _RawInput(io.RawIOBase):
    """The server's own body reader, each read started only before the body's deadline."""

    def __init__(self, stream: Any, deadline: _Deadline) -> None:
        self._stream = stream
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            self._deadline.remaining()
        except BodyTimedOut:
            if hasattr(self._stream, "failed"):  # gunicorn: close rather than drain
                self._stream.failed = True
            raise
        data = self._stream.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        return size


class _DeadlineSocket:
    """gunicorn's connection socket as its own body reader uses it, every ``recv`` bounded by
    the body's deadline. gunicorn's reader loops until it holds what it was asked for, so a
    timeout set once per read would let a client that trickles keep it reading."""

    def __init__(self, sock: Any, deadline: _Deadline) -> None:
        self._sock = sock
        self._deadline = deadline

    def recv(self, size: int) -> bytes:
        self._sock.settimeout(self._deadline.remaining())
        try:
            return self._sock.recv(size)
        except TimeoutError:
            raise self._deadline.expired() from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _bound_gunicorn_reads(environ: dict, deadline: _Deadline) -> Callable[[], None]:
    """Put ``_DeadlineSocket`` under gunicorn's body reader (when this is gunicorn's reader);
    returns what puts its own socket back."""
    reader = getattr(environ.get("wsgi.input"), "reader", None)
    unreader = getattr(reader, "unreader", None)
    sock = getattr(unreader, "sock", None)
    if not (hasattr(sock, "recv") and hasattr(sock, "settimeout")):
        return lambda: None
    unreader.sock = _DeadlineSocket(sock, deadline)

    def restore() -> None:
        unreader.sock = sock

    return restore


class GunicornSocketInput(io.RawIOBase):
    """The rest of a gunicorn request body, read from its socket.

    ``reader.length`` (gunicorn's count of the body still to come from the connection) drops
    with every byte taken, exactly as gunicorn's own reader would have it.
    """

    def __init__(self, body: Any, reader: Any, sock: Any, deadline: _Deadline) -> None:
        self._body = body
        self._reader = reader
        self._sock = sock
        self._deadline = deadline
        unreader = reader.unreader
        ahead = unreader.buf.getvalue()  # read with the headers, after them
        unreader.buf = io.BytesIO()
        if len(ahead) > reader.length:  # a pipelined next request: gunicorn's, not ours
            unreader.unread(ahead[reader.length :])
            ahead = ahead[: reader.length]
        reader.length -= len(ahead)
        self._pending = memoryview(body.buf.getvalue() + ahead)
        body.buf = io.BytesIO()

    @classmethod
    def wrap(cls, environ: dict, length: int, deadline: _Deadline) -> GunicornSocketInput | None:
        """The socket reader when ``environ`` is a gunicorn request it can serve, else None."""
        try:
            from gunicorn.http.body import Body, LengthReader
        except ImportError:
            return None
        body = environ.get("wsgi.input")
        sock = environ.get("gunicorn.socket")
        if not isinstance(body, Body) or not isinstance(body.reader, LengthReader):
            return None  # chunked, HTTP/2, or some other server
        reader = body.reader
        unreader = getattr(reader, "unreader", None)
        if not (
            isinstance(getattr(body, "buf", None), io.BytesIO)
            and isinstance(getattr(unreader, "buf", None), io.BytesIO)
            and hasattr(unreader, "unread")
            and hasattr(sock, "recv_into")
            and hasattr(sock, "gettimeout")
            and sock.gettimeout() != 0  # a non-blocking socket would fail half-way
        ):
            return None
        # Nothing read yet: what gunicorn holds and still expects is the whole body.
        if body.buf.getbuffer().nbytes + reader.length != length:
            return None
        return cls(body, reader, sock, deadline)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._pending:
            size = min(len(buffer), len(self._pending))
            buffer[:size] = self._pending[:size]
            self._pending = self._pending[size:]
            return size
        size = min(len(buffer), self._reader.length)
        if size <= 0:
            return 0
        try:
            self._sock.settimeout(self._deadline.remaining())
            with memoryview(buffer) as view:
                received = self._sock.recv_into(view[:size])
        except TimeoutError:
            self._failed()
            raise self._deadline.expired() from None
        except OSError:  # BodyTimedOut included
            self._failed()
            raise
        if received == 0:
            self._failed()  # the client went away mid-body: Django sees a short body
        self._reader.length -= received
        return received

    def _failed(self) -> None:
        # gunicorn then closes the connection instead of looking for a next request on it.
        self._body.failed = True


def buffered_input(app: Callable) -> Callable:
    """WSGI middleware: every body read within its deadline; ``wsgi.input`` of a body over
    ``THRESHOLD_BYTES`` read from gunicorn's socket, or elsewhere via one large buffer."""

    def wrapped(environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length <= 0:
            return app(environ, start_response)
        deadline = _Deadline(environ, length)
        sock = _timeout_socket(environ)
        prior_timeout = sock.gettimeout() if sock is not None else None
        direct = (
            GunicornSocketInput.wrap(environ, length, deadline)
            if length > THRESHOLD_BYTES
            else None
        )
        restore = None
        if direct is not None:
            environ["wsgi.input"] = io.BufferedReader(direct, buffer_size=SOCKET_BUFFER_BYTES)
        else:
            restore = _bound_gunicorn_reads(environ, deadline)
            paced = _RawInput(environ["wsgi.input"], deadline)
            # A small body's reads pass through as the parser asks for them.
            environ["wsgi.input"] = (
                io.BufferedReader(paced, buffer_size=BUFFER_BYTES)
                if length > THRESHOLD_BYTES
                else paced
            )
        try:
            return app(environ, start_response)
        finally:
            # The connection goes back to gunicorn as it came: its own socket, no timeout.
            if restore is not None:
                restore()
            if sock is not None:
                sock.settimeout(prior_timeout)

    return wrapped
