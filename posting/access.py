"""The one way in to posting's things (posts, repost rules, alerts, webhooks), built on the
workspace access of ``accounts.access``: an outsider gets 404 (the thing is not confirmed to
exist), a member without the right gets 403 from the ``_rw`` / ``_for_owner`` variants. Each
getter loads the workspace check and the thing in two queries.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from accounts.access import (
    WorkspaceAccess,
    get_workspace_for_owner,
    get_workspace_for_user,
    uuid_or_404,
)
from posting.models import Alert, Draft, Post, RepostRule, WebhookDelivery, WebhookEndpoint


def _by_code(request: HttpRequest, code, queryset, thing_code, *, write: bool):
    """The row of ``queryset`` with code ``thing_code`` in workspace ``code`` and the user's
    access: 404 for outsiders and for another workspace's row, 403 without the right to write
    when ``write``. Two queries: the access check, then the row."""
    access = get_workspace_for_user(request, code)
    thing = queryset.filter(workspace=access.workspace, code=uuid_or_404(thing_code)).first()
    if thing is None:
        raise Http404
    if write and not access.can_write:
        raise PermissionDenied
    thing.workspace = access.workspace
    return thing, access


def get_post_for_user(request: HttpRequest, code, post_code) -> tuple[Post, WorkspaceAccess]:
    """The post ``post_code`` of workspace ``code`` (with its author) and the user's access."""
    return _by_code(request, code, Post.objects.select_related("author"), post_code, write=False)


def get_post_for_user_rw(request: HttpRequest, code, post_code) -> tuple[Post, WorkspaceAccess]:
    """As ``get_post_for_user``, and 403 unless the user may write (owner or editor)."""
    return _by_code(request, code, Post.objects.select_related("author"), post_code, write=True)


def get_draft_for_user(request: HttpRequest, code, draft_code) -> tuple[Draft, WorkspaceAccess]:
    """The draft ``draft_code`` of workspace ``code`` (with its author) and the user's access."""
    return _by_code(
        request, code, Draft.objects.select_related("author", "decided_by"), draft_code, write=False
    )


def get_draft_for_user_rw(request: HttpRequest, code, draft_code) -> tuple[Draft, WorkspaceAccess]:
    """As ``get_draft_for_user``, and 403 unless the user may write (owner or editor)."""
    return _by_code(
        request, code, Draft.objects.select_related("author", "decided_by"), draft_code, write=True
    )


def get_repost_rule_for_user(
    request: HttpRequest, code, rule_id: str
) -> tuple[RepostRule, WorkspaceAccess]:
    """The repost rule with Taisly id ``rule_id`` (rules have no code of their own) of workspace
    ``code``, and the user's access; 404 for outsiders and for a rule of another workspace."""
    access = get_workspace_for_user(request, code)
    rule_id = str(rule_id)
    # Taisly's ids are short printable strings; anything else (a NUL, which PostgreSQL refuses
    # in text) is no rule of ours.
    if len(rule_id) > 64 or not rule_id.isprintable():
        raise Http404
    rule = (
        RepostRule.objects.select_related("from_platform")
        .filter(workspace=access.workspace, taisly_id=rule_id)
        .first()
    )
    if rule is None:
        raise Http404
    return rule, access


def get_repost_rule_for_user_rw(
    request: HttpRequest, code, rule_id: str
) -> tuple[RepostRule, WorkspaceAccess]:
    """As ``get_repost_rule_for_user``, and 403 unless the user may write (owner or editor)."""
    rule, access = get_repost_rule_for_user(request, code, rule_id)
    if not access.can_write:
        raise PermissionDenied
    return rule, access


def get_alert_for_user(request: HttpRequest, code, alert_code) -> tuple[Alert, WorkspaceAccess]:
    """The alert ``alert_code`` of workspace ``code``; 404 for outsiders and other workspaces."""
    access = get_workspace_for_user(request, code)
    alert = Alert.objects.filter(workspace=access.workspace, code=uuid_or_404(alert_code)).first()
    if alert is None:
        raise Http404
    return alert, access


def get_alert_for_member(request: HttpRequest, code, alert_code) -> tuple[Alert, WorkspaceAccess]:
    """As ``get_alert_for_user``, and 403 for staff looking in: they read alerts, and only
    members mark them read."""
    alert, access = get_alert_for_user(request, code, alert_code)
    if access.is_staff_view:
        raise PermissionDenied
    return alert, access


def get_webhook_for_owner(
    request: HttpRequest, code, endpoint_code
) -> tuple[WebhookEndpoint, WorkspaceAccess]:
    """A webhook endpoint of workspace ``code``: 404 for outsiders and other workspaces, 403
    for members who do not own the workspace (webhooks and their secrets are the owners')."""
    access = get_workspace_for_owner(request, code)
    endpoint = WebhookEndpoint.objects.filter(
        workspace=access.workspace, code=uuid_or_404(endpoint_code)
    ).first()
    if endpoint is None:
        raise Http404
    endpoint.workspace = access.workspace
    return endpoint, access


def get_webhook_delivery_for_owner(
    request: HttpRequest, code, endpoint_code, delivery_code
) -> tuple[WebhookDelivery, WorkspaceAccess]:
    """One delivery of one of the workspace's endpoints; as ``get_webhook_for_owner``."""
    endpoint, access = get_webhook_for_owner(request, code, endpoint_code)
    delivery = WebhookDelivery.objects.filter(
        endpoint=endpoint, code=uuid_or_404(delivery_code)
    ).first()
    if delivery is None:
        raise Http404
    delivery.endpoint = endpoint
    return delivery, access
