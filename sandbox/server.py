"""The sandbox's HTTP server: Django's threaded WSGI server, plus a way to drop a connection.

"Drop" simulates the worst network failure for a client: the request was received and carried
out, then the connection closed before a single byte of the answer was written. WSGI has no
word for that, so the request handler hands itself to the app through the environ; the app
flags it, and the handler then discards everything the WSGI layer writes and closes the socket.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest

HANDLER_KEY = "sandbox.request_handler"


class _DroppableWriter:
    """Stands in for the handler's socket writer; swallows writes once the request is dropped."""

    def __init__(self, raw, handler: SandboxRequestHandler) -> None:
        self._raw = raw
        self._handler = handler

    def write(self, data: bytes) -> int:
        if self._handler.dropping:
            return len(data)
        return self._raw.write(data)

    def flush(self) -> None:
        if not self._handler.dropping:
            self._raw.flush()


class SandboxRequestHandler(WSGIRequestHandler):
    # Headers and body leave in separate writes; with Nagle on, a keep-alive client waits out
    # its delayed ACK (~40 ms) on every answer.
    disable_nagle_algorithm = True
    dropping = False

    def get_environ(self) -> dict:
        environ = super().get_environ()
        environ[HANDLER_KEY] = self
        return environ

    def handle_one_request(self) -> None:
        self.dropping = False
        raw = self.wfile
        self.wfile = _DroppableWriter(raw, self)
        try:
            super().handle_one_request()
        finally:
            self.wfile = raw
        if self.dropping:
            # No answer was written; end the connection so the client sees it closed.
            self.close_connection = True


def drop_connection(request: HttpRequest) -> None:
    """Close this request's connection without answering (only under the sandbox's server)."""
    handler = request.environ.get(HANDLER_KEY)
    if handler is not None:
        handler.dropping = True


def serve(host: str, port: int, *, on_bind: Callable[[int], None]) -> None:
    """Serve the sandbox until interrupted. Settings must already point at sandbox.urls."""
    httpd = ThreadedWSGIServer((host, port), SandboxRequestHandler, ipv6=":" in host)
    try:
        httpd.set_app(get_wsgi_application())
        on_bind(httpd.server_port)
        httpd.serve_forever()
    finally:
        httpd.server_close()
