"""Staff oversight of every workspace. Anyone else gets a 404: the section is not confirmed.

Staff only look here: nothing on these pages changes a workspace. Changes staff make in the
Django admin are audited in the workspace's own log as staff actions (accounts.admin_audit).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access import require_staff_two_factor
from accounts.audit import AUDIT_PAGE_SIZE, audit_rows
from accounts.models import TaislyConnection
from accounts.taisly_key import scrub
from oversight import queries
from oversight.forms import AuditFilterForm, HealthFilterForm
from posting.models import Post, PostResult, TaislyRequest
from posting.reporting import charts, health

#: Workspaces on one page of the health list.
HEALTH_PAGE_SIZE = 50
#: Connections drawn on the quota chart across all workspaces (the busiest of the last day).
CHART_CONNECTIONS = 8


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


def _filters(form_class, request: HttpRequest):
    """The form bound to the query string, and the data of its valid fields only."""
    form = form_class(request.GET or None)
    if not request.GET:
        return form, {}
    form.is_valid()
    data = {k: v for k, v in form.cleaned_data.items() if k not in form.errors}
    return form, data


@login_required
@staff_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """Health of every workspace, the one needing attention first. Queries: session, user, the
    count, the page of workspaces with every figure (one SELECT of subqueries), the page's
    sparklines, the navigation's memberships."""
    now = timezone.now()
    form, data = _filters(HealthFilterForm, request)
    page = Paginator(queries.health_filtered(data, now=now), HEALTH_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = list(page.object_list)
    sparks = health.sparklines([w.pk for w in rows], tz=timezone.get_current_timezone(), now=now)
    for workspace in rows:
        workspace.spark = sparks[workspace.pk]
    return render(
        request,
        "oversight/index.html",
        {"form": form, "page": page, "workspaces": rows, "active": "index"},
        status=422 if form.errors else 200,
    )


@login_required
@staff_required
@require_GET
def failures(request: HttpRequest) -> HttpResponse:
    """Failures across every workspace: the feed and the incident view. Queries: session, user,
    failed results, stuck results, unsent posts, failures by code and network, stuck by
    network, the navigation's memberships."""
    now = timezone.now()
    return render(
        request,
        "oversight/failures.html",
        {
            "feed": queries.failure_feed(now=now),
            "groups": queries.failure_groups(now=now),
            "incident_workspaces": queries.INCIDENT_WORKSPACES,
            "active": "failures",
        },
    )


@login_required
@staff_required
@require_GET
def quota(request: HttpRequest) -> HttpResponse:
    """Connections under quota pressure and keys shared by several workspaces. Queries:
    session, user, pressured connections, shared fingerprints, their holders, navigation."""
    now = timezone.now()
    return render(
        request,
        "oversight/quota.html",
        {
            "pressure": list(queries.quota_pressure(now=now)),
            "shared": queries.shared_keys(),
            "near_limit": round(queries.NEAR_LIMIT * 100),
            "active": "quota",
        },
    )


@login_required
@staff_required
@require_GET
def charts_all(request: HttpRequest) -> HttpResponse:
    """The charts across every workspace. Queries: session, user, the busiest connections,
    posts per day, results per network, requests per hour, navigation."""
    now = timezone.now()
    busiest = (
        TaislyRequest.objects.filter(started_at__gte=now - queries.DAY, connection__isnull=False)
        .values("connection")
        .annotate(n=Count("pk"))
        .order_by("-n", "connection")
        .values("connection")[:CHART_CONNECTIONS]
    )
    connections = list(
        TaislyConnection.objects.filter(pk__in=busiest)
        .select_related("workspace")
        .defer("api_key")
        .order_by("workspace__name", "pk")
    )
    context = charts.chart_context(
        posts=Post.objects.all(),
        results=PostResult.objects.all(),
        connections=connections,
        tz=timezone.get_current_timezone(),
        now=now,
        prefix="all",
    )
    return render(
        request,
        "oversight/charts.html",
        {**context, "busiest": CHART_CONNECTIONS, "active": "charts"},
    )


@login_required
@staff_required
@require_GET
def audit(request: HttpRequest) -> HttpResponse:
    """The audit log of every workspace, newest first, narrowed by who, what, where and when."""
    form, data = _filters(AuditFilterForm, request)
    events = queries.audit_filtered(data)
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = audit_rows(page.object_list)
    return render(
        request,
        "oversight/audit.html",
        {"page": page, "form": form, "active": "audit", "filtering": _filtering(data)},
        status=422 if form.errors else 200,
    )


def _filtering(data: dict) -> bool:
    """Whether a filter that could be read narrows the list (an empty list then says "nothing
    matches", not "nothing recorded")."""
    return any(value not in (None, "") for value in data.values())


class _Echo:
    def write(self, value: str) -> str:
        return value


CSV_COLUMNS = (
    "created_at",
    "workspace",
    "workspace_code",
    "actor",
    "action",
    "target",
    "details",
    "ip",
)


#: A cell starting with one of these is read as a formula by Excel, LibreOffice and Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """The cell as text a spreadsheet will not run: OWASP's advice for CSV injection, a leading
    single quote before a cell that would start a formula (a workspace named
    ``=HYPERLINK(...)``, say). defusedcsv was considered: it leaves tab and carriage return."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def audit_csv_rows(events) -> Iterator[list[str]]:
    yield list(CSV_COLUMNS)
    for event in events.iterator(chunk_size=2000):
        # Events never hold secrets (audit_record scrubs them); scrubbed again on the way out.
        cells = [
            event.created_at.isoformat(),
            event.workspace_name,
            str(event.workspace.code) if event.workspace else "",
            event.actor_email,
            event.action,
            scrub(event.target) or "",
            scrub(json.dumps(event.details, sort_keys=True, ensure_ascii=False)) or "",
            event.ip or "",
        ]
        yield [spreadsheet_safe(cell) for cell in cells]


@login_required
@staff_required
@require_GET
def audit_export(request: HttpRequest) -> HttpResponse:
    """The filtered audit log as CSV, streamed (the whole log may be large)."""
    form, data = _filters(AuditFilterForm, request)
    if form.errors:
        page = Paginator(queries.audit_filtered(data), AUDIT_PAGE_SIZE).get_page(1)
        page.object_list = audit_rows(page.object_list)
        return render(
            request,
            "oversight/audit.html",
            {"page": page, "form": form, "active": "audit", "filtering": _filtering(data)},
            status=422,
        )
    writer = csv.writer(_Echo())
    rows = (writer.writerow(row) for row in audit_csv_rows(queries.audit_filtered(data)))
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response
