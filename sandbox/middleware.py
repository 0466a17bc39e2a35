"""The sandbox process's middleware (it runs without the dashboard's): see commands/sandbox.py."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse


class ContentLengthMiddleware:
    """Every answer has a length.

    Without Content-Length, Django's development server closes the connection after each
    answer (CommonMiddleware would set it, but this process does not run it), so clients could
    not keep connections alive.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not response.streaming and not response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))
        return response


_DRAIN_CHUNK = 64 * 1024


def drain_request_body(get_response):
    """Read what is left of the request body in chunks before answering.

    An upload refused before its body was parsed (401, 429, an injected 500) leaves it unread,
    and Django's development server then reads the rest in one piece: 500 MB in memory.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        try:
            while request.read(_DRAIN_CHUNK):
                pass
        except OSError:  # the client went away; nothing left to drain
            pass
        return response

    return middleware
