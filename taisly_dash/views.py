from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the database answers and the task queue is readable."""
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
