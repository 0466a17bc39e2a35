"""A member's inbox: marking alerts read, for that member alone (the list and the unread counts
are in ``selectors``).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.access import lock_member
from accounts.audit import audit_record
from accounts.models import AuditEvent, User, Workspace
from posting.models import Alert, AlertRead


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
        lock_member(workspace=workspace, actor=user)
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
