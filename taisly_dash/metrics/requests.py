"""Requests answered and how long they took, by view name (never the raw path: it holds
workspace codes and, on a review link, a token)."""

from __future__ import annotations

import time

from django.conf import settings
from prometheus_client import Counter, Histogram

# Not registered anywhere at import: the view builds a registry per scrape (with these, or in
# multiprocess mode with what every worker wrote to PROMETHEUS_MULTIPROC_DIR).
REQUESTS = Counter(
    "taisly_dash_http_requests",
    "HTTP requests answered, by view name, method and status code.",
    ["view", "method", "status"],
    registry=None,
)
LATENCY = Histogram(
    "taisly_dash_http_request_duration_seconds",
    "Time from the request reaching Django to its response, by view name and method.",
    ["view", "method"],
    registry=None,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def view_label(request) -> str:
    """The URL pattern's name (``posting:post_detail``); ``static`` for whitenoise's files;
    ``unmatched`` for anything no pattern took (a 404, a redirect to HTTPS)."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or match._func_path
    if request.path_info.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return "static"
    return "unmatched"


class RequestMetricsMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        view = view_label(request)
        method = request.method if request.method in _METHODS else "other"
        REQUESTS.labels(view, method, str(response.status_code)).inc()
        LATENCY.labels(view, method).observe(elapsed)
        return response
