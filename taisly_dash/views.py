from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.models import Membership

logger = logging.getLogger(__name__)


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The user's workspaces. The current workspace lives in the URL (``/w/<code>/``), so this
    page is where one is chosen; the navigation's switcher does the same from any page."""
    memberships = (
        Membership.objects.filter(user=request.user)
        .select_related("workspace")
        .annotate(members_count=Count("workspace__memberships"))
        .order_by("workspace__kind", "workspace__name", "workspace__id")
    )
    return render(request, "home.html", {"memberships": memberships})


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
