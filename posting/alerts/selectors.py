"""The alerts room's read side: a member's alerts and unread counts, their email choice, the
owners' webhook endpoints and each one's delivery log.
"""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Prefetch, QuerySet

from accounts.models import Membership, User, Workspace
from posting.alerts.emails import default_email
from posting.models import (
    Alert,
    AlertPreference,
    AlertRead,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

#: How many of an endpoint's latest deliveries its page shows.
DELIVERY_LOG_SIZE = 30


def alerts_for_user(workspace: Workspace, user: User) -> QuerySet[Alert]:
    """The workspace's alerts with ``is_read`` for this user (one query for a page of them)."""
    return (
        Alert.objects.filter(workspace=workspace)
        .select_related("post", "platform")
        .annotate(is_read=Exists(AlertRead.objects.filter(alert=OuterRef("pk"), user=user)))
    )


def unread_count(workspace_id: int, user: User) -> int:
    return (
        Alert.objects.filter(workspace_id=workspace_id)
        .exclude(Exists(AlertRead.objects.filter(alert=OuterRef("pk"), user=user)))
        .count()
    )


def unread_by_workspace(user: User) -> dict[int, int]:
    """Unread alerts per workspace the user is a member of (one query): the agency's count."""
    rows = (
        Alert.objects.filter(workspace__memberships__user=user)
        .exclude(Exists(AlertRead.objects.filter(alert=OuterRef("pk"), user=user)))
        .values("workspace_id")
        .annotate(n=Count("id"))
    )
    return {row["workspace_id"]: row["n"] for row in rows}


def email_preference(workspace: Workspace, membership: Membership) -> str:
    """The member's choice of alert emails here: stored, or their role's default."""
    row = AlertPreference.objects.filter(workspace=workspace, user_id=membership.user_id).first()
    return row.email if row else default_email(membership.role)


def webhook_endpoints(workspace: Workspace) -> list[WebhookEndpoint]:
    """The workspace's endpoints for their list (the list shows no secret: none is read)."""
    return list(WebhookEndpoint.objects.filter(workspace=workspace).defer("secret"))


def delivery_log(endpoint: WebhookEndpoint) -> list[WebhookDelivery]:
    """The endpoint's latest deliveries, newest first, each with its tries (two queries)."""
    return list(
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .prefetch_related(
            Prefetch("tries", queryset=WebhookAttempt.objects.order_by("-number", "-id"))
        )
        .order_by("-created_at", "-id")[:DELIVERY_LOG_SIZE]
    )
