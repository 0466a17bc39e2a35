"""The connected social accounts of a workspace, as last read from Taisly."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from accounts.access import get_workspace_for_user, get_workspace_for_user_rw
from accounts.models import TaislyConnection
from posting import sync
from posting.gateway import TaislyActionError
from posting.models import Platform
from posting.views.history import _go, mirror_of


@login_required
@require_GET
def platforms(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_user(request, code)
    rows = list(
        Platform.objects.filter(workspace=access.workspace).order_by("network", "name", "id")
    )
    connection = (
        TaislyConnection.objects.filter(workspace=access.workspace).defer("api_key").first()
    )
    return render(
        request,
        "posting/platforms.html",
        {
            "access": access,
            "workspace": access.workspace,
            "current": [p for p in rows if p.gone_at is None],
            "gone": [p for p in rows if p.gone_at is not None],
            "mirror": mirror_of(access.workspace),
            "connection": connection,
        },
    )


@login_required
@require_POST
def platforms_sync(request: HttpRequest, code) -> HttpResponse:
    # Editors and owners only: a sync spends the team's hourly Taisly quota.
    access = get_workspace_for_user_rw(request, code)
    try:
        summary = sync.platforms_sync(workspace=access.workspace, actor=request.user)
    except TaislyActionError as exc:
        messages.error(request, _("%(reason)s Nothing was synced.") % {"reason": exc.message})
    else:
        messages.success(
            request,
            ngettext(
                "Synced with Taisly: %(count)d social account.",
                "Synced with Taisly: %(count)d social accounts.",
                summary.total,
            )
            % {"count": summary.total},
        )
    return _go(request, reverse("posting:platforms", kwargs={"code": access.workspace.code}))
