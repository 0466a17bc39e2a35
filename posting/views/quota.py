"""The quota meter: a key's sliding hour, on every workspace page (htmx) and as its own page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access import get_workspace_for_user
from accounts.models import TaislyConnection
from posting import background, quota
from posting.models import MirrorState, TaislyRequest

#: Requests listed on the meter's own page.
RECENT_REQUESTS = 20
#: Seconds between the meter's htmx refreshes.
REFRESH_SECONDS = 45


@login_required
@require_GET
def quota_meter(request: HttpRequest, code) -> HttpResponse:
    """The meter. Its htmx partial runs a fixed number of queries whatever the ledger holds:
    the access check, the connection, the hour's counts (an index range of one key's hour), the
    latest block of a connection holding the key, the mirror state."""
    access = get_workspace_for_user(request, code)
    workspace = access.workspace
    now = timezone.now()
    connection = TaislyConnection.objects.filter(workspace=workspace).defer("api_key").first()
    context = {
        "access": access,
        "workspace": workspace,
        "meter": meter_for(connection, workspace, now),
        "refresh_seconds": REFRESH_SECONDS,
    }
    if request.htmx:
        return render(request, "posting/quota.html#meter", context)
    recent = []
    if connection is not None:
        recent = list(
            TaislyRequest.objects.filter(connection=connection).order_by("-started_at", "-id")[
                :RECENT_REQUESTS
            ]
        )
    return render(
        request, "posting/quota.html", {**context, "recent": recent, "hide_quota_strip": True}
    )


def meter_for(connection: TaislyConnection | None, workspace, now) -> dict:
    if connection is None or not connection.is_active:
        return {"active": False, "connection": connection}
    budget = quota.budget_for(connection, now=now)
    state = MirrorState.objects.filter(workspace=workspace).first()
    synced_at = state.history_synced_at if state else None
    sharing = 1
    if connection.key_fingerprint:
        sharing = background.key_sharing().get(connection.key_fingerprint, 1)
    stale = synced_at is None or synced_at < now - background.stale_after(
        connection.plan, sharing=sharing
    )
    return {
        "active": True,
        "connection": connection,
        "budget": budget,
        "percent": min(100, round(100 * budget.used / budget.limit)) if budget.limit else 100,
        "synced_at": synced_at,
        "stale": stale,
        "sync_error": state.sync_error if state else "",
        "sync_retry_at": state.sync_retry_at if state else None,
    }
