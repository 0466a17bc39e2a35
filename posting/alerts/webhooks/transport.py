"""One try over the wire, under one overall deadline: resolve and check the host (``guard``),
connect to a checked address, TLS against the host name, send, and read the status and the
first bytes of the answer. When the deadline passes the connection is shut, whatever phase it
is in and however slowly the server drips.

Why by hand: requests, urllib3 and httpx only bound each socket operation (a server answering
one byte every few seconds never trips a per-read timeout), and urllib3's ``Timeout(total=)``
is spent by the connect and the first read only. So every socket operation gets the time left
as its timeout, and a watchdog shuts the socket down at the deadline (``shutdown`` wakes a
blocked read or write, in the TLS handshake too). urllib3's connection classes still do the
HTTP and TLS (certificate and SNI checked against the host name, not the address).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass

import certifi
from urllib3.connection import HTTPConnection, HTTPSConnection

from posting.alerts.webhooks.guard import Target, target_for

#: The certificate authorities a webhook's TLS certificate must chain to (requests' own).
CA_CERTS = certifi.where()


class DeadlinePassed(Exception):
    """The try's overall deadline passed before it was done."""


@dataclass(frozen=True)
class Answer:
    status: int
    head: bytes
    #: The address the try connected to (one of the checked ones).
    address: str


def post(url: str, *, body: bytes, headers: dict[str, str], seconds: float, head: int) -> Answer:
    """POST ``body`` to ``url``, no redirects followed, all of it within ``seconds``; the
    status and the first ``head`` bytes of the answer.

    Raises ``WebhookRefused`` (the URL or an address of its host is not allowed),
    ``DeadlinePassed``, or what the connection raised (``OSError``, ``http.client`` and urllib3
    errors)."""
    deadline = _Deadline(seconds)
    target = target_for(url, timeout=deadline.left())
    with _Watchdog(deadline) as watchdog:
        conn = _connection(target, deadline, watchdog)
        try:
            conn.timeout = deadline.left()
            conn.request("POST", target.path, body=body, headers=headers, preload_content=False)
            conn.timeout = deadline.left()
            response = conn.getresponse()
            data = b""
            while len(data) < head:
                deadline.left()
                chunk = response.read(head - len(data), decode_content=True)
                if not chunk:
                    break
                data += chunk
            deadline.left()
            return Answer(response.status, data[:head], conn.connected_to)
        except Exception:
            if watchdog.fired or deadline.passed():
                raise DeadlinePassed from None
            raise
        finally:
            conn.close()


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def left(self) -> float:
        """Seconds left; raises ``DeadlinePassed`` when none are."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise DeadlinePassed
        return left


class _Watchdog:
    """Shuts the try's socket down when the deadline passes. It holds a duplicate of the socket
    (``shutdown`` acts on the connection, whichever descriptor names it), so it does not depend
    on what TLS or http.client do with the original."""

    def __init__(self, deadline: _Deadline) -> None:
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self.fired = False
        self._timer = threading.Timer(max(deadline.at - time.monotonic(), 0), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._socks:
                sock.close()
            self._socks.clear()

    def watch(self, sock: socket.socket) -> None:
        dup = sock.dup()
        with self._lock:
            if self.fired:
                _shut(dup)
                dup.close()
                raise DeadlinePassed
            self._socks.append(dup)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._socks:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the other side
        sock.shutdown(socket.SHUT_RDWR)


class _Pinned:
    """A connection to the checked addresses only (never a fresh lookup of the host name),
    each connect bounded by the time left, its socket handed to the watchdog."""

    target: Target
    deadline: _Deadline
    watchdog: _Watchdog
    connected_to = ""

    def _new_conn(self) -> socket.socket:
        error: OSError | None = None
        for address in self.target.addresses:
            try:
                sock = socket.create_connection(
                    (address, self.target.port), timeout=self.deadline.left()
                )
            except OSError as exc:
                error = exc
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.watchdog.watch(sock)
            self.connected_to = address
            return sock
        raise error or OSError("no address to connect to")


class _PinnedHTTPConnection(_Pinned, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_Pinned, HTTPSConnection):
    pass


def _connection(target: Target, deadline: _Deadline, watchdog: _Watchdog) -> HTTPConnection:
    # The host name stays the connection's host: it is the Host header, the TLS server name
    # (SNI) and the name the certificate must match; only _new_conn picks the address.
    if target.scheme == "https":
        conn: HTTPConnection = _PinnedHTTPSConnection(
            target.host, target.port, timeout=deadline.left(), ca_certs=CA_CERTS
        )
    else:
        conn = _PinnedHTTPConnection(target.host, target.port, timeout=deadline.left())
    conn.target, conn.deadline, conn.watchdog = target, deadline, watchdog
    return conn
