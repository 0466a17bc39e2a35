"""Alerts pages: the list (filters, mark read), the nav badges, a member's email choice, the
owners' webhooks (endpoints, delivery log, test event, redeliver).

Every view finds its objects through ``accounts.access``; the services decide under lock.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from accounts.access import (
    get_workspace_for_member,
    get_workspace_for_owner,
    get_workspace_for_user,
    user_memberships,
)
from accounts.models import Workspace
from accounts.reauth import require_recent_authentication
from posting.access import (
    get_alert_for_member,
    get_webhook_delivery_for_owner,
    get_webhook_for_owner,
)
from posting.alerts import emails, inbox, selectors
from posting.alerts.display import describe
from posting.alerts.forms import AlertEmailForm, AlertFilterForm, WebhookForm
from posting.alerts.webhooks.endpoints import (
    DeliveryPending,
    TooManyEndpoints,
    WebhookRateLimited,
    delivery_redeliver,
    endpoint_create,
    endpoint_delete,
    endpoint_set_enabled,
    endpoint_test,
)
from posting.alerts.webhooks.guard import WebhookRefused
from posting.models import WebhookEndpoint

PAGE_SIZE = 50
CHANGED = "alerts-changed"


def _alerts_url(workspace: Workspace) -> str:
    return reverse("posting:alerts", kwargs={"code": workspace.code})


# --- The list -------------------------------------------------------------------------------------


@login_required
@require_GET
def alert_list(request: HttpRequest, code) -> HttpResponse:
    return _render_list(request, get_workspace_for_user(request, code))


def _render_list(request: HttpRequest, access) -> HttpResponse:
    workspace = access.workspace
    form = AlertFilterForm(request.GET or None)
    rows = selectors.alerts_for_user(workspace, request.user)
    if form.is_valid():
        if form.cleaned_data["kind"]:
            rows = rows.filter(kind=form.cleaned_data["kind"])
        if form.cleaned_data["network"]:
            rows = rows.filter(platform__network=form.cleaned_data["network"])
        if form.cleaned_data["unread"]:
            rows = rows.filter(is_read=False)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "access": access,
        "workspace": workspace,
        "form": form,
        "page": page,
        "items": [describe(a, read=a.is_read) for a in page.object_list],
        "unread": selectors.unread_count(workspace.pk, request.user),
        "is_member": access.membership is not None,
        "query": query.urlencode(),
    }
    template = "posting/alerts.html#list" if request.htmx else "posting/alerts.html"
    return render(request, template, context)


@login_required
@require_GET
def alert_badge(request: HttpRequest, code) -> HttpResponse:
    """The nav's unread count for this workspace (htmx loads and refreshes it)."""
    access = get_workspace_for_user(request, code)
    count = selectors.unread_count(access.workspace.pk, request.user)
    return render(
        request, "posting/alerts.html#badge", {"workspace": access.workspace, "unread": count}
    )


def _after_read(request: HttpRequest, access, count: int) -> HttpResponse:
    if request.htmx:
        return trigger_client_event(_render_list(request, access), CHANGED)
    if count:
        messages.success(request, _("Marked as read."))
    target = _alerts_url(access.workspace)
    query = request.POST.get("query", "")
    return redirect(f"{target}?{query}" if query else target)


@login_required
@require_POST
def alert_read(request: HttpRequest, code, alert_code) -> HttpResponse:
    alert, access = get_alert_for_member(request, code, alert_code)
    count = inbox.alerts_mark_read(
        workspace=access.workspace, user=request.user, codes=[alert.code], request=request
    )
    return _after_read(request, access, count)


@login_required
@require_POST
def alerts_read_all(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_member(request, code)
    count = inbox.alerts_mark_read(workspace=access.workspace, user=request.user, request=request)
    return _after_read(request, access, count)


# --- Across workspaces (an agency's count) ------------------------------------------------


@login_required
@require_GET
def alerts_everywhere(request: HttpRequest) -> HttpResponse:
    """Unread alerts per workspace the user is a member of, and in all. A workspace that asks
    for two-factor sign-in the user has not set up counts nothing (its count is None)."""
    counts = selectors.unread_by_workspace(request.user)
    rows = [(m.workspace, counts.get(m.workspace_id, 0)) for m in user_memberships(request)]
    total = sum(n for n in counts.values() if n is not None)
    context = {"rows": rows, "total": total}
    template = "posting/alerts_everywhere.html"
    if request.htmx and request.GET.get("fragment") == "badge":
        template += "#badge"
    return render(request, template, context)


# --- A member's email choice --------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def alert_settings(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_member(request, code)  # staff looking in get no emails
    workspace = access.workspace
    current = selectors.email_preference(workspace, access.membership)
    form = AlertEmailForm(request.POST or None, initial={"email": current})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            emails.email_preference_set(
                workspace=workspace,
                actor=request.user,
                email=form.cleaned_data["email"],
                request=request,
            )
            messages.success(request, _("Your choice of alert emails was saved."))
            return redirect(reverse("posting:alert_settings", kwargs={"code": workspace.code}))
        status = 422
    context = {"access": access, "workspace": workspace, "form": form}
    return render(request, "posting/alert_settings.html", context, status=status)


# --- Webhooks (owners) -------------------------------------------------------------------------
# The list and an endpoint's page show its URL (a Slack URL is a credential) and signing secret:
# no cache may keep them (never_cache sends Cache-Control: no-store).


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def webhook_list(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_owner(request, code)
    workspace = access.workspace
    if request.method == "POST":
        # A webhook sends the workspace's alerts out: a borrowed session must not add one. Its
        # URL can be a credential (Slack's), so the form is not kept for a replay.
        require_recent_authentication(request, replay_post=False)
    form = WebhookForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                endpoint = endpoint_create(
                    workspace=workspace,
                    actor=request.user,
                    url=form.cleaned_data["url"],
                    format=form.cleaned_data["format"],
                    events=form.cleaned_data["events"],
                    request=request,
                )
            except WebhookRefused as exc:
                form.add_error("url", exc.message)
            except TooManyEndpoints as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request, _("Webhook added. Its signing secret is shown on its page.")
                )
                return redirect(_webhook_url(endpoint))
        status = 422
    endpoints = selectors.webhook_endpoints(workspace)
    context = {"access": access, "workspace": workspace, "form": form, "endpoints": endpoints}
    return render(request, "posting/webhooks.html", context, status=status)


def _webhook_url(endpoint: WebhookEndpoint) -> str:
    return reverse(
        "posting:webhook", kwargs={"code": endpoint.workspace.code, "endpoint": endpoint.code}
    )


@never_cache
@login_required
@require_GET
def webhook_detail(request: HttpRequest, code, endpoint) -> HttpResponse:
    endpoint, access = get_webhook_for_owner(request, code, endpoint)
    return _render_detail(request, endpoint, access)


def _render_detail(request: HttpRequest, endpoint, access, *, status: int = 200) -> HttpResponse:
    # The page shows the signing secret and the whole URL (a Slack URL is a credential).
    require_recent_authentication(request)
    context = {
        "access": access,
        "workspace": access.workspace,
        "endpoint": endpoint,
        "deliveries": selectors.delivery_log(endpoint),
    }
    response = render(request, "posting/webhook.html", context, status=status)
    add_never_cache_headers(response)
    return response


def _rate_limited(request: HttpRequest, endpoint, access, exc: WebhookRateLimited) -> HttpResponse:
    """A small page with the sentence and a link back to the endpoint's page: it shows neither
    the secret nor the URL, so it needs no fresh password, and reloading it sends nothing (the
    link is a GET)."""
    context = {
        "access": access,
        "workspace": access.workspace,
        "sentence": exc.message,
        "back": _webhook_url(endpoint),
    }
    response = render(request, "posting/webhook_rate_limited.html", context, status=429)
    response["Retry-After"] = str(exc.seconds)
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def webhook_test(request: HttpRequest, code, endpoint) -> HttpResponse:
    endpoint, access = get_webhook_for_owner(request, code, endpoint)
    try:
        endpoint_test(endpoint=endpoint, actor=request.user, request=request)
    except WebhookRateLimited as exc:
        return _rate_limited(request, endpoint, access, exc)
    messages.success(request, _("A test event was sent. Its delivery is in the log below."))
    return redirect(_webhook_url(endpoint))


@login_required
@require_POST
def webhook_toggle(request: HttpRequest, code, endpoint) -> HttpResponse:
    endpoint, access = get_webhook_for_owner(request, code, endpoint)
    endpoint_set_enabled(
        endpoint=endpoint, actor=request.user, enabled=not endpoint.enabled, request=request
    )
    return redirect(_webhook_url(endpoint))


@login_required
@require_POST
def webhook_delete(request: HttpRequest, code, endpoint) -> HttpResponse:
    endpoint, access = get_webhook_for_owner(request, code, endpoint)
    endpoint_delete(endpoint=endpoint, actor=request.user, request=request)
    messages.success(request, _("Webhook deleted."))
    return redirect(reverse("posting:webhooks", kwargs={"code": access.workspace.code}))


@login_required
@require_POST
def webhook_redeliver(request: HttpRequest, code, endpoint, delivery) -> HttpResponse:
    delivery, access = get_webhook_delivery_for_owner(request, code, endpoint, delivery)
    try:
        delivery_redeliver(delivery=delivery, actor=request.user, request=request)
    except WebhookRateLimited as exc:
        return _rate_limited(request, delivery.endpoint, access, exc)
    except DeliveryPending as exc:
        messages.error(request, exc.message)
        return redirect(_webhook_url(delivery.endpoint))
    messages.success(request, _("The delivery was sent again."))
    return redirect(_webhook_url(delivery.endpoint))
