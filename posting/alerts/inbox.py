"""Alerts as a member reads them: in the app (the list, the unread counts, marking read) and each
alert described in the reader's language, with links back to the post.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.access import RoleRequired
from accounts.audit import audit_record
from accounts.models import AuditEvent, Membership, User, Workspace
from posting.models import Alert, AlertRead, Platform, Post, reasons
from posting.taisly.codes import explain

Kind = Alert.Kind


#: What to do, per kind (the code's own explanation, when we know it, comes first).
FIXES = {
    Kind.FAILED: gettext_lazy(
        "Fix what the code says, then use “Retry failed platforms” on the post to send it to "
        "the failed accounts again."
    ),
    Kind.STUCK: gettext_lazy(
        "Taisly has not posted it yet. Check the account in Taisly's app; if it stays pending, "
        "the post may need to be made again."
    ),
    Kind.SEND_FAILED: gettext_lazy(
        "The video never reached Taisly. Open the post and send it again once the reason is fixed."
    ),
    Kind.NEEDS_CHECK: gettext_lazy(
        "Taisly may have posted it already. Open the post, compare with Taisly's history and "
        "decide: adopt, send again or give up."
    ),
    Kind.CONNECTION_INVALID: gettext_lazy(
        "Taisly no longer accepts this workspace's key (it was revoked or regenerated "
        "elsewhere). An owner must connect a working key on the Taisly key page."
    ),
    Kind.BLOCKED: gettext_lazy(
        "Taisly refused requests for over an hour because the key's hourly limit was used up. "
        "Background sync waits until it works again; fewer “Sync now” clicks help."
    ),
}


@dataclass
class AlertView:
    """One alert as pages, emails and webhooks tell it."""

    alert: Alert
    read: bool
    explanation: str
    fix: str

    @property
    def post(self) -> Post | None:
        return self.alert.post

    @property
    def platform(self) -> Platform | None:
        return self.alert.platform


def describe(alert: Alert, *, read: bool = False) -> AlertView:
    explanation = explain(alert.error_code) if alert.error_code else ""
    if alert.kind == Kind.STUCK:
        explanation = _("Still pending at Taisly long after it was due.")
    elif alert.kind in Alert.POST_KINDS:
        explanation = reasons.shown(alert.message)
    elif alert.kind == Kind.FAILED and not explanation:
        explanation = alert.message
    return AlertView(alert=alert, read=read, explanation=explanation, fix=str(FIXES[alert.kind]))


def alerts_for_user(workspace: Workspace, user: User):
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


def alerts_mark_read(
    *,
    workspace: Workspace,
    user: User,
    codes: Iterable | None = None,
    request=None,
) -> int:
    """Mark alerts read for ``user`` alone (``codes`` None: all of the workspace's). Any member
    may, a viewer too; staff looking in are not members and read without marking. Returns how
    many were newly marked."""
    with transaction.atomic():
        membership = Membership.objects.filter(workspace=workspace, user=user).first()
        if membership is None:
            raise RoleRequired
        unread = Alert.objects.filter(workspace=workspace).exclude(
            Exists(AlertRead.objects.filter(alert=OuterRef("pk"), user=user))
        )
        if codes is not None:
            unread = unread.filter(code__in=list(codes))
        ids = list(unread.values_list("pk", flat=True))
        now = timezone.now()
        AlertRead.objects.bulk_create(
            [AlertRead(alert_id=i, user=user, read_at=now) for i in ids], ignore_conflicts=True
        )
        if ids:
            audit_record(
                workspace=workspace,
                actor=user,
                action=AuditEvent.Action.ALERTS_READ,
                target="all" if codes is None else ",".join(str(c) for c in codes)[:200],
                details={"count": len(ids)},
                request=request,
            )
    return len(ids)


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def post_url(alert: Alert) -> str:
    if alert.post_id is None:
        return absolute(reverse("posting:alerts", kwargs={"code": alert.workspace.code}))
    return absolute(
        reverse("posting:post", kwargs={"code": alert.workspace.code, "post_code": alert.post.code})
    )
