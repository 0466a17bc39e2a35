from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import DatabaseError, connection
from django.db.models import F, OuterRef
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.models import Membership, Workspace
from posting import health

#: Workspaces on one page of the agency overview (and of staff oversight's health list).
OVERVIEW_PAGE_SIZE = 50

logger = logging.getLogger(__name__)


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The agency overview: one row per workspace of the user, the one needing attention first
    (posting.health). The current workspace lives in the URL (``/w/<code>/``), so this page is
    where one is chosen; the navigation's switcher does the same from any page."""
    now = timezone.now()
    members = Membership.objects.filter(workspace=OuterRef("pk"))
    workspaces = health.by_attention(
        health.with_health(
            Workspace.objects.filter(memberships__user=request.user), user=request.user, now=now
        ).annotate(role=F("memberships__role"), members_count=health.count_of(members, "workspace"))
    )
    page = Paginator(workspaces, OVERVIEW_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    sparks = health.sparklines([w.pk for w in rows], tz=timezone.get_current_timezone(), now=now)
    roles = dict(Membership.Role.choices)
    for workspace in rows:
        workspace.spark = sparks[workspace.pk]
        workspace.role_label = roles.get(workspace.role, "")
    return render(request, "home.html", {"page": page, "rows": rows})


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
