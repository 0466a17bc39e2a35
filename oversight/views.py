"""Staff oversight of every workspace. Anyone else gets a 404: the section is not confirmed."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import require_staff_two_factor
from accounts.audit import AUDIT_PAGE_SIZE, audit_rows
from accounts.models import AuditEvent, Workspace


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """404 unless the (logged-in) user is staff; in production, staff set up two-factor
    sign-in first."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise Http404
        require_staff_two_factor(request)
        return view(request, *args, **kwargs)

    return wrapper


@login_required
@staff_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """Every workspace with its member count and the state of its Taisly key."""
    workspaces = (
        Workspace.objects.annotate(members_count=Count("memberships"))
        .select_related("taisly_connection")
        .defer("taisly_connection__api_key")
        .order_by("kind", "name", "id")
    )
    return render(request, "oversight/index.html", {"workspaces": workspaces})


@login_required
@staff_required
@require_GET
def audit(request: HttpRequest) -> HttpResponse:
    """The audit log of every workspace, newest first; ``?workspace=<code>`` narrows it."""
    events = AuditEvent.objects.select_related("workspace")
    selected = None
    raw = request.GET.get("workspace", "")
    if raw:
        try:
            selected = Workspace.objects.filter(code=uuid.UUID(raw)).first()
        except ValueError:
            selected = None
        # An unknown or deleted workspace shows an empty log rather than everything.
        events = events.filter(workspace=selected) if selected else events.none()
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = audit_rows(page.object_list)
    return render(
        request,
        "oversight/audit.html",
        {
            "page": page,
            "selected": selected,
            "selected_code": raw,
            "workspaces": Workspace.objects.only("code", "name").order_by("name", "id"),
        },
    )
