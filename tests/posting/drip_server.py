"""A real HTTP server on 127.0.0.1 that answers one byte at a time, as the attack in issue 15 did
("one byte every 5 seconds"): it never lets a per-read timeout trip. It logs when each
connection opened and when the client closed it, so a test can tell how long a try held on.

``phase="headers"`` drips the whole answer from its status line on; ``phase="body"`` sends the
status line and headers at once, then drips the body. Each connection gives up after
``stop_after`` seconds (so a client without a deadline still ends, and a test of it fails
instead of hanging).
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from dataclasses import dataclass

import pytest

__all__ = ["DripServer", "drip_server"]


@dataclass
class Connection:
    opened: float
    closed: float | None = None
    #: Who closed it: "client" (it went away), "server" (stop_after passed).
    closed_by: str = ""
    request: bytes = b""


class DripServer:
    def __init__(self, *, every: float = 0.5, stop_after: float = 30.0, phase: str = "headers"):
        self.every = every
        self.stop_after = stop_after
        self.phase = phase
        self.connections: list[Connection] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(32)
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}{path}"

    def open_now(self) -> int:
        with self._lock:
            return sum(1 for c in self.connections if c.closed is None)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            record = Connection(opened=time.monotonic())
            with self._lock:
                self.connections.append(record)
            threading.Thread(target=self._drip, args=(conn, record), daemon=True).start()

    def _drip(self, conn: socket.socket, record: Connection) -> None:
        body = b"x" * 1000
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        with conn:
            conn.settimeout(2)
            with contextlib.suppress(OSError):
                record.request = conn.recv(65536)
            if self.phase == "body":
                with contextlib.suppress(OSError):
                    conn.sendall(head)
                answer = body
            else:
                answer = head + body
            for index in range(len(answer)):
                # Readable while dripping means the client closed (EOF) or reset: note when.
                readable, _, _ = select.select([conn], [], [], self.every)
                gone = False
                if readable:
                    try:
                        gone = conn.recv(1024) == b""
                    except OSError:
                        gone = True
                if not gone:
                    try:
                        conn.sendall(answer[index : index + 1])
                    except OSError:
                        gone = True
                if gone:
                    record.closed, record.closed_by = time.monotonic(), "client"
                    return
                if time.monotonic() - record.opened > self.stop_after or self._stop.is_set():
                    break
            record.closed, record.closed_by = time.monotonic(), "server"


@pytest.fixture
def drip_server():
    """``drip_server(**options)`` starts one; every one started is closed afterwards."""
    started: list[DripServer] = []

    def start(**options) -> DripServer:
        server = DripServer(**options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()
