from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from taisly_dash import health

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and the web container's health check: the database answers
    and the task queue is readable."""
    status: dict[str, object] = {}
    healthy = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        status["database"] = "ok"
    except DatabaseError:
        logger.exception("healthz: database check failed")
        status["database"] = "error"
        healthy = False
    try:
        from django_q.models import OrmQ

        status["queue"] = {"status": "ok", "queued": OrmQ.objects.count()}
    except DatabaseError:
        logger.exception("healthz: queue check failed")
        status["queue"] = {"status": "error"}
        healthy = False
    status["status"] = "ok" if healthy else "error"
    return JsonResponse(status, status=200 if healthy else 503)


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database answers, every migration is applied, the cache table exists and
    every task cluster was seen running lately (taisly_dash/health.py). 503 with the failed
    checks named when any is not."""
    checks = health.readiness()
    failed = [name for name, check in checks.items() if not check.ok]
    for name in failed:
        logger.warning("readyz: %s: %s", name, checks[name].detail)
    body = {
        "status": "not ready" if failed else "ready",
        "failed": failed,
        "checks": {
            name: {"ok": check.ok, "detail": check.detail} for name, check in checks.items()
        },
    }
    return JsonResponse(body, status=503 if failed else 200)
