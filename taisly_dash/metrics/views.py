from __future__ import annotations

import hashlib
import hmac
import os

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from taisly_dash.metrics import requests
from taisly_dash.metrics.database import DatabaseCollector


def _token_matches(request: HttpRequest, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time (as digests, so not even
    the length is told)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    digest = hashlib.sha256
    return hmac.compare_digest(
        digest(given.strip().encode()).digest(), digest(token.encode()).digest()
    )


def registry() -> CollectorRegistry:
    """What one scrape reads: the request figures of this process, or of every web process of
    this machine in multiprocess mode, and the database's."""
    scrape = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(scrape)
    else:
        scrape.register(requests.REQUESTS)
        scrape.register(requests.LATENCY)
    scrape.register(DatabaseCollector())
    return scrape


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus's scrape: a 404 unless METRICS_TOKEN is set, a 401 without it."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    if not _token_matches(request, token):
        response = HttpResponse(
            "A bearer token is needed: Authorization: Bearer <METRICS_TOKEN>.\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
