"""A workspace's charts: posts per day by outcome, success per network, quota per hour."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access import get_workspace_for_user
from accounts.models import TaislyConnection
from posting import charts
from posting.models import Post, PostResult


@login_required
@require_GET
def workspace_charts(request: HttpRequest, code) -> HttpResponse:
    """Queries: session, user, access (membership + workspace), the connection, posts per day,
    results per network, requests per hour; then the navigation's."""
    access = get_workspace_for_user(request, code)
    workspace = access.workspace
    connections = list(
        TaislyConnection.objects.filter(workspace=workspace)
        .select_related("workspace")
        .defer("api_key")
    )
    context = charts.chart_context(
        posts=Post.objects.filter(workspace=workspace),
        results=PostResult.objects.filter(post__workspace=workspace),
        connections=connections,
        tz=timezone.get_current_timezone(),
        now=timezone.now(),
        prefix="w",
    )
    return render(
        request,
        "posting/charts.html",
        {"access": access, "workspace": workspace, **context},
    )
