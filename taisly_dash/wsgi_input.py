"""A large request body read through one big buffer, whatever the WSGI server's own reader does.

Django's multipart parser reads a body 64 KiB at a time. gunicorn's body reader answers each
small read by copying everything it has read ahead (up to 1 MiB) twice, which made a 400 MB
video upload several times slower under gunicorn than under Django's own server. Wrapped in an
``io.BufferedReader`` the server is asked for 1 MiB at a time and the parser's small reads come
from the buffer; nothing is read that the body does not hold, and memory holds one buffer.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

BUFFER_BYTES = 1024 * 1024
#: Smaller bodies (every form but an upload) are left as they come.
THRESHOLD_BYTES = 1024 * 1024


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


def buffered_input(app: Callable) -> Callable:
    """WSGI middleware: ``wsgi.input`` of a body over ``THRESHOLD_BYTES`` read via one buffer."""

    def wrapped(environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > THRESHOLD_BYTES:
            environ["wsgi.input"] = io.BufferedReader(
                _RawInput(environ["wsgi.input"]), buffer_size=BUFFER_BYTES
            )
        return app(environ, start_response)

    return wrapped
