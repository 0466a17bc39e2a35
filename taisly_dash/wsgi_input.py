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
Whether this is worth driving gunicorn's internals is measured, not assumed:
tests/bench/bench_upload.py times the same uploads read this way, through gunicorn as it comes,
and through one 1 MiB buffer, against a receiver that only writes the bytes to disk (the
figures and the decision: docs/architecture.md, "Uploads: reading the body").
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

BUFFER_BYTES = 1024 * 1024
#: Smaller bodies (every form but an upload) are left as they come.
THRESHOLD_BYTES = 1024 * 1024
#: Reads at least this large go straight from the socket into the reader's result (as in
#: Django's own server); only smaller ones pass through this buffer.
SOCKET_BUFFER_BYTES = 8 * 1024


class _RawInput(io.RawIOBase):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        return size


class GunicornSocketInput(io.RawIOBase):
    """The rest of a gunicorn request body, read from its socket.

    ``reader.length`` (gunicorn's count of the body still to come from the connection) drops
    with every byte taken, exactly as gunicorn's own reader would have it.
    """

    def __init__(self, body: Any, reader: Any, sock: Any) -> None:
        self._body = body
        self._reader = reader
        self._sock = sock
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
    def wrap(cls, environ: dict, length: int) -> GunicornSocketInput | None:
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
        return cls(body, reader, sock)

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
            with memoryview(buffer) as view:
                received = self._sock.recv_into(view[:size])
        except OSError:
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
    """WSGI middleware: ``wsgi.input`` of a body over ``THRESHOLD_BYTES`` read from gunicorn's
    socket, or elsewhere via one large buffer."""

    def wrapped(environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > THRESHOLD_BYTES:
            direct = GunicornSocketInput.wrap(environ, length)
            if direct is not None:
                environ["wsgi.input"] = io.BufferedReader(direct, buffer_size=SOCKET_BUFFER_BYTES)
            else:
                environ["wsgi.input"] = io.BufferedReader(
                    _RawInput(environ["wsgi.input"]), buffer_size=BUFFER_BYTES
                )
        return app(environ, start_response)

    return wrapped
