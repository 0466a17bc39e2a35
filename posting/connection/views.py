"""The Taisly key page of a workspace and its four actions. Views parse and render; the services
in ``posting.connection.keys`` decide. Every path that holds the key hides it from error reports.
The four actions ask for the password again when it was not given recently (accounts.reauth).

The quota meter: a key's sliding hour, on every workspace page (htmx) and as its own page.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import WorkspaceAccess, get_workspace_for_owner, get_workspace_for_user
from accounts.models import TaislyConnection
from accounts.reauth import require_recent_authentication
from posting.connection import keys
from posting.connection.forms import ConnectKeyForm
from posting.mirror import background
from posting.models import MirrorState, TaislyRequest
from posting.taisly import governor as quota
from taisly_dash.htmx import HtmxHttpRequest


def _context(access: WorkspaceAccess, **extra) -> dict:
    return {
        "access": access,
        "workspace": access.workspace,
        "connection": keys.connection_for_page(access.workspace),
        "now_utc": timezone.now(),
        **extra,
    }


@login_required
@require_GET
def detail(request: HtmxHttpRequest, code) -> HttpResponse:
    access = get_workspace_for_user(request, code)
    return render(request, "posting/keys/detail.html", _context(access))


@sensitive_variables()
@sensitive_post_parameters("api_key")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def connect(request: HtmxHttpRequest, code) -> HttpResponse:
    access = get_workspace_for_owner(request, code)
    # Asked before the form, so a key is typed only into a fresh session; a POST that arrives
    # too late is dropped rather than kept in the session with the key in it.
    require_recent_authentication(request, replay_post=False)
    form = ConnectKeyForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                outcome = keys.connection_connect(
                    workspace=access.workspace,
                    api_key=form.cleaned_data["api_key"],
                    plan=form.cleaned_data["plan"] or None,
                    actor=request.user,
                    request=request,
                )
            except keys.KeyActionError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, outcome.message)
                return redirect("taisly:detail", code=access.workspace.code)
        status = 422
    return render(request, "posting/keys/connect.html", _context(access, form=form), status=status)


Status = TaislyConnection.Status
# The states of the stored key in which each action can be asked for (the detail page offers
# only these; a typed or stale URL gets the reason instead of a confirmation that cannot work).
_ACTIONABLE = {
    "regenerate": {Status.ACTIVE},
    "revoke": {Status.ACTIVE, Status.INVALID},
    "disconnect": {Status.ACTIVE, Status.INVALID, Status.REVOKED},
}


def _confirm_or_act(request: HtmxHttpRequest, code, *, action: str, service) -> HttpResponse:
    access = get_workspace_for_owner(request, code)
    require_recent_authentication(request)
    if request.method == "GET":
        context = _context(access, action=action)
        connection = context["connection"]
        if connection is None or connection.status not in _ACTIONABLE[action]:
            if connection is not None and connection.status == Status.INVALID:
                reason = _(
                    "The stored key no longer works, so it cannot be regenerated. Connect a new "
                    "key."
                )
            else:
                reason = _("This workspace has no Taisly key connected.")
            messages.info(request, reason)
            return redirect("taisly:detail", code=access.workspace.code)
        return render(request, "posting/keys/confirm.html", context)
    try:
        outcome = service(workspace=access.workspace, actor=request.user, request=request)
    except keys.KeyNotStored as exc:
        # Shown once, in the answer to this POST: never in a URL, never cached.
        return render(
            request,
            "posting/keys/new_key_once.html",
            _context(access, error=exc),
        )
    except keys.KeyActionError as exc:
        # Refused: the key page as it now stands, with the reason, as a 422 (not a redirect).
        messages.error(request, exc.message)
        return render(request, "posting/keys/detail.html", _context(access), status=422)
    messages.success(request, outcome.message)
    return redirect("taisly:detail", code=access.workspace.code)


@sensitive_variables()
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def regenerate(request: HtmxHttpRequest, code) -> HttpResponse:
    """GET asks to confirm; POST regenerates."""
    return _confirm_or_act(request, code, action="regenerate", service=keys.connection_regenerate)


@sensitive_variables()
@login_required
@require_http_methods(["GET", "POST"])
def revoke(request: HtmxHttpRequest, code) -> HttpResponse:
    """GET asks to confirm; POST revokes."""
    return _confirm_or_act(request, code, action="revoke", service=keys.connection_revoke)


@login_required
@require_http_methods(["GET", "POST"])
def disconnect(request: HtmxHttpRequest, code) -> HttpResponse:
    """GET asks to confirm; POST forgets the key here."""
    return _confirm_or_act(request, code, action="disconnect", service=keys.connection_disconnect)


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
