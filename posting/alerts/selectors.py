"""The alerts room's read side: a member's alerts and unread counts, their email choice, the
owners' webhook endpoints and each one's delivery log.
"""

from __future__ import annotations

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from accounts.access import two_factor_locked
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


def for_user(user: User) -> Q:
    """Alerts for everyone, and the ones for ``user`` alone (a review decision on their post)."""
    return Q(recipient__isnull=True) | Q(recipient_id=user.pk)


def alerts_for_user(workspace: Workspace, user: User) -> QuerySet[Alert]:
    """The workspace's alerts with ``is_read`` for this user (one query for a page of them)."""
    return (
        Alert.objects.filter(workspace=workspace)
        .filter(for_user(user))
        .select_related("post", "platform", "draft")
        .annotate(is_read=Exists(AlertRead.objects.filter(alert=OuterRef("pk"), user=user)))
    )


def unread_count(workspace_id: int, user: User) -> int:
    return (
        Alert.objects.filter(workspace_id=workspace_id)
        .filter(for_user(user))
        .exclude(Exists(AlertRead.objects.filter(alert=OuterRef("pk"), user=user)))
        .count()
    )


def unread_by_workspace(user: User) -> dict[int, int | None]:
    """Unread alerts per workspace the user is a member of (one query): the agency's count.
    None for a workspace the user may not open until they turn on two-factor sign-in
    (``accounts.access.two_factor_locked``): its alerts are neither shown nor counted."""
    unread = (
        Alert.objects.filter(workspace=OuterRef("workspace_id"))
        .filter(for_user(user))
        .exclude(Exists(AlertRead.objects.filter(alert=OuterRef("pk"), user=user)))
        .order_by()
        .values("workspace")
        .annotate(n=Count("pk"))
        .values("n")
    )
    rows = (
        Membership.objects.filter(user=user)
        .annotate(
            unread=Coalesce(Subquery(unread, output_field=IntegerField()), 0),
            locked=Case(
                When(two_factor_locked(user, workspace="workspace"), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
        )
        .values_list("workspace_id", "unread", "locked")
    )
    return {workspace_id: None if locked else n for workspace_id, n, locked in rows}


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
