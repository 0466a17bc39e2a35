"""Alerts: what raises one, exactly once, and who hears of it.

    history_sync (after its transaction commits) ──> alerts_for_sync(workspace)
    every minute (ALERTS_SCHEDULE) ──────────────> alerts_scan() for every workspace
        alerts_scan: the mirror as it is now ──> Alert rows (get_or_create under the unique
        │            constraints: a re-sync, a redelivered task, two workers or a restart find
        │            the row and raise nothing) and resolves what no longer holds
        └─ new alerts, on commit ─┬─ alerts_email(ids)          (task: "immediately" members,
                                  │                              one email per person per batch)
                                  └─ WebhookDelivery per endpoint ─> webhooks.delivery_send(id)
    every hour (DIGEST_SCHEDULE) ──> alerts_digest(): "hourly digest" members, one email each

The scan reads state, not events, so nothing is lost if a process dies between a sync and its
alerts: the next minute's scan raises what the sync's own call did not. What raises an alert:
- a result FAILED (new, or PENDING before): kind ``failed``. A failure first seen in a backfill
  of history older than a day is history, not news, and raises nothing;
- a result still PENDING ``STUCK_AFTER_MINUTES`` after its post was due: ``stuck``, resolved
  once the result is SUCCESS or FAILED (a FAILED raises its own ``failed`` alert);
- a post SEND_FAILED or NEEDS_CHECK: ``send_failed`` / ``needs_check``, resolved when it leaves
  that state;
- the workspace's key no longer accepted (401/403, revoked or regenerated elsewhere):
  ``connection_invalid``; blocked by a 429 for longer than ``ALERT_BLOCKED_MINUTES``:
  ``blocked``. Both resolved once the key works again; a later incident is a new alert.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.audit import audit_record
from accounts.models import AuditEvent, Membership, TaislyConnection, User, Workspace
from posting import reasons
from posting.codes import explain
from posting.models import Alert, AlertPreference, AlertRead, Platform, Post, PostResult

logger = logging.getLogger(__name__)

Kind = Alert.Kind
EMAIL_TASK = "posting.tasks.alerts_email"
#: Failures older than this when first seen (a first sync's backfill) are history, not news.
BACKFILL_QUIET = timedelta(hours=24)
#: How far back the scan looks for failures and sends that have no alert yet.
SCAN_WINDOW = timedelta(hours=48)

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


@dataclass(frozen=True)
class Batch:
    """The alerts one scan raised (new rows only) and the ones it resolved."""

    raised: list[Alert]
    resolved: int


# --- Raising and resolving ----------------------------------------------------------------------


def alerts_for_sync(workspace: Workspace) -> Batch:
    """Called by history sync once its diff is committed: raise what the new mirror says."""
    return alerts_scan(workspace_ids=[workspace.pk])


def alerts_scan(
    *, workspace_ids: Iterable[int] | None = None, now: datetime | None = None
) -> Batch:
    """Raise every alert the mirror calls for that does not exist yet; resolve the ones that
    no longer hold. ``workspace_ids`` None: every workspace. Safe to run any number of times,
    in any number of processes at once."""
    now = now or timezone.now()
    scope = list(workspace_ids) if workspace_ids is not None else None

    def only(qs, field="workspace_id"):
        return qs.filter(**{f"{field}__in": scope}) if scope is not None else qs

    raised: list[Alert] = []
    resolved = 0
    same_result = Alert.objects.filter(
        post_id=OuterRef("post_id"), platform_id=OuterRef("platform_id")
    )

    # FAILED results without their alert.
    failed = only(
        PostResult.objects.filter(
            status=PostResult.Status.FAILED, status_changed_at__gte=now - SCAN_WINDOW
        )
        .filter(
            # It was something else before (PENDING), or it is a recent post's failure.
            ~Q(status_changed_at=F("first_seen_at"))
            | Q(post__due_at__gte=now - BACKFILL_QUIET)
            | Q(post__due_at__isnull=True)
        )
        .exclude(Exists(same_result.filter(kind=Kind.FAILED))),
        "post__workspace_id",
    ).select_related("post")
    for result in failed:
        raised += _raise(
            workspace_id=result.post.workspace_id,
            post_id=result.post_id,
            platform_id=result.platform_id,
            kind=Kind.FAILED,
            error_code=result.code,
            message=result.message,
            now=now,
        )

    # PENDING results long past due.
    stuck_cutoff = now - timedelta(minutes=settings.STUCK_AFTER_MINUTES)
    stuck = only(
        PostResult.objects.filter(
            status=PostResult.Status.PENDING,
            post__state=Post.State.SENT,
            post__due_at__lte=stuck_cutoff,
            post__due_at__gte=now - timedelta(days=settings.POSTING_SYNC_LOOKBACK_DAYS),
        ).exclude(Exists(same_result.filter(kind=Kind.STUCK))),
        "post__workspace_id",
    ).select_related("post")
    for result in stuck:
        minutes = int((now - result.post.due_at).total_seconds() // 60)
        raised += _raise(
            workspace_id=result.post.workspace_id,
            post_id=result.post_id,
            platform_id=result.platform_id,
            kind=Kind.STUCK,
            error_code="",
            message=f"PENDING {minutes} min",
            now=now,
        )
    # A stuck result that finished (or whose post was cancelled) is no longer stuck.
    still_pending = PostResult.objects.filter(
        post_id=OuterRef("post_id"),
        platform_id=OuterRef("platform_id"),
        status=PostResult.Status.PENDING,
        post__state=Post.State.SENT,
    )
    resolved += only(
        Alert.objects.filter(kind=Kind.STUCK, resolved_at__isnull=True).exclude(
            Exists(still_pending)
        )
    ).update(resolved_at=now)

    # Posts whose send failed or needs a person's check.
    for kind, state in (
        (Kind.SEND_FAILED, Post.State.SEND_FAILED),
        (Kind.NEEDS_CHECK, Post.State.NEEDS_CHECK),
    ):
        posts = only(
            Post.objects.filter(state=state, updated_at__gte=now - SCAN_WINDOW).exclude(
                Exists(Alert.objects.filter(post_id=OuterRef("pk"), kind=kind))
            )
        )
        for post in posts:
            raised += _raise(
                workspace_id=post.workspace_id,
                post_id=post.pk,
                platform_id=None,
                kind=kind,
                error_code="",
                message=post.state_reason,
                now=now,
            )
        resolved += only(
            Alert.objects.filter(kind=kind, resolved_at__isnull=True).exclude(post__state=state)
        ).update(resolved_at=now)

    # The key: no longer accepted, or blocked for long.
    connections = only(TaislyConnection.objects.defer("api_key"))
    invalid = connections.filter(status=TaislyConnection.Status.INVALID)
    for connection in invalid.exclude(
        Exists(
            Alert.objects.filter(
                workspace_id=OuterRef("workspace_id"),
                kind=Kind.CONNECTION_INVALID,
                resolved_at__isnull=True,
            )
        )
    ):
        raised += _raise(
            workspace_id=connection.workspace_id,
            post_id=None,
            platform_id=None,
            kind=Kind.CONNECTION_INVALID,
            error_code="INVALID_API_KEY",
            message=connection.key_hint,
            now=now,
        )
    resolved += only(
        Alert.objects.filter(kind=Kind.CONNECTION_INVALID, resolved_at__isnull=True).exclude(
            workspace__taisly_connection__status=TaislyConnection.Status.INVALID
        )
    ).update(resolved_at=now)
    long_block = now + timedelta(minutes=settings.ALERT_BLOCKED_MINUTES)
    for connection in connections.filter(blocked_until__gt=long_block).exclude(
        Exists(
            Alert.objects.filter(
                workspace_id=OuterRef("workspace_id"), kind=Kind.BLOCKED, resolved_at__isnull=True
            )
        )
    ):
        raised += _raise(
            workspace_id=connection.workspace_id,
            post_id=None,
            platform_id=None,
            kind=Kind.BLOCKED,
            error_code="RATE_LIMITED",
            message=connection.blocked_until.isoformat(),
            now=now,
        )
    resolved += only(
        Alert.objects.filter(kind=Kind.BLOCKED, resolved_at__isnull=True).exclude(
            workspace__taisly_connection__blocked_until__gt=now
        )
    ).update(resolved_at=now)

    if raised:
        _dispatch(raised)
        logger.info("Alerts: %d raised, %d resolved", len(raised), resolved)
    return Batch(raised=raised, resolved=resolved)


def _raise(
    *,
    workspace_id: int,
    post_id: int | None,
    platform_id: int | None,
    kind: str,
    error_code: str,
    message: str,
    now: datetime,
) -> list[Alert]:
    """The alert, made unless it exists: [alert] when this call made it, else []."""
    lookup = {"workspace_id": workspace_id, "post_id": post_id, "platform_id": platform_id}
    if post_id is None:
        lookup["resolved_at"] = None
    try:
        with transaction.atomic():
            alert, created = Alert.objects.get_or_create(
                kind=kind,
                **lookup,
                defaults={"error_code": error_code[:100], "message": message, "created_at": now},
            )
    except IntegrityError:
        # Another process made it between our look and our insert: theirs is the one.
        return []
    return [alert] if created else []


def _dispatch(alerts: list[Alert]) -> None:
    """Webhook deliveries for the new alerts now, emails and sends once the alerts commit."""
    from posting import webhooks

    deliveries = webhooks.deliveries_for(alerts)
    ids = [a.pk for a in alerts]

    def after_commit() -> None:
        from django_q.tasks import async_task

        async_task(EMAIL_TASK, ids, task_name=f"alert emails ({len(ids)})", group="alerts")
        for delivery_id in deliveries:
            webhooks.enqueue(delivery_id)

    transaction.on_commit(after_commit)


# --- Reading ------------------------------------------------------------------------------------


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
            from accounts.access import RoleRequired

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


# --- Email preferences --------------------------------------------------------------------------


def default_email(role: str) -> str:
    if role in (Membership.Role.OWNER, Membership.Role.EDITOR):
        return AlertPreference.Email.IMMEDIATELY
    return AlertPreference.Email.OFF


def email_preference(workspace: Workspace, membership: Membership) -> str:
    row = AlertPreference.objects.filter(workspace=workspace, user_id=membership.user_id).first()
    return row.email if row else default_email(membership.role)


def email_preference_set(
    *, workspace: Workspace, actor: User, email: str, request=None
) -> AlertPreference:
    """The actor's own choice for this workspace's alert emails (any member, for themselves)."""
    if email not in AlertPreference.Email.values:
        raise ValueError(email)
    now = timezone.now()
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update().filter(workspace=workspace, user=actor).first()
        )
        if membership is None:
            from accounts.access import RoleRequired

            raise RoleRequired
        row, _created = AlertPreference.objects.select_for_update().get_or_create(
            workspace=workspace, user=actor, defaults={"email": email, "digest_until": now}
        )
        before = row.email if not _created else default_email(membership.role)
        fields = {"email": email, "updated_at": now}
        if email == AlertPreference.Email.HOURLY and row.email != email:
            fields["digest_until"] = now  # the first digest starts from the choice
        for name, value in fields.items():
            setattr(row, name, value)
        row.save(update_fields=list(fields))
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditEvent.Action.ALERT_EMAIL_CHANGED,
            target=actor.email,
            details={"from": before, "to": email},
            request=request,
        )
    return row


def _recipients(
    workspace_ids: Iterable[int], choice: str
) -> dict[int, list[tuple[User, AlertPreference | None]]]:
    """Members of each workspace whose choice (stored or their role's default) is ``choice``."""
    rows = AlertPreference.objects.filter(workspace_id__in=list(workspace_ids))
    prefs = {(p.workspace_id, p.user_id): p for p in rows}
    found: dict[int, list] = defaultdict(list)
    for membership in Membership.objects.filter(
        workspace_id__in=list(workspace_ids)
    ).select_related("user"):
        pref = prefs.get((membership.workspace_id, membership.user_id))
        chosen = pref.email if pref else default_email(membership.role)
        if chosen == choice and membership.user.is_active and membership.user.email:
            found[membership.workspace_id].append((membership.user, pref))
    return found


# --- Emails -------------------------------------------------------------------------------------


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def post_url(alert: Alert) -> str:
    if alert.post_id is None:
        return absolute(reverse("posting:alerts", kwargs={"code": alert.workspace.code}))
    return absolute(
        reverse("posting:post", kwargs={"code": alert.workspace.code, "post_code": alert.post.code})
    )


def alerts_email(*, alert_ids: list[int]) -> int:
    """Send the "immediately" emails for these alerts: one per person per workspace, whatever
    the number of alerts. Each alert is claimed once (a redelivered task sends nothing).
    Returns the number of emails sent."""
    now = timezone.now()
    with transaction.atomic():
        claimable = list(
            Alert.objects.select_for_update(skip_locked=True)
            .filter(pk__in=alert_ids, emailed_at__isnull=True)
            .values_list("pk", flat=True)
        )
        claimed = Alert.objects.filter(pk__in=claimable, emailed_at__isnull=True).update(
            emailed_at=now
        )
    if not claimed:
        return 0
    alerts = list(
        Alert.objects.filter(pk__in=claimable)
        .select_related("workspace", "post", "platform")
        .order_by("created_at", "id")
    )
    by_workspace: dict[int, list[Alert]] = defaultdict(list)
    for alert in alerts:
        by_workspace[alert.workspace_id].append(alert)
    sent = 0
    recipients = _recipients(by_workspace, AlertPreference.Email.IMMEDIATELY)
    for workspace_id, items in by_workspace.items():
        for user, _pref in recipients.get(workspace_id, []):
            sent += _send(user, items[0].workspace, items, digest=False)
    return sent


def alerts_digest(*, now: datetime | None = None) -> int:
    """The hourly digest: for each member who chose it, the alerts raised since their last one.
    Each member's window is claimed by a conditional update, so two runs never send it twice."""
    now = now or timezone.now()
    sent = 0
    prefs = AlertPreference.objects.filter(email=AlertPreference.Email.HOURLY).select_related(
        "user", "workspace"
    )
    for pref in prefs:
        since = pref.digest_until or pref.updated_at
        if since >= now:
            continue
        won = AlertPreference.objects.filter(
            pk=pref.pk, email=AlertPreference.Email.HOURLY, digest_until=pref.digest_until
        ).update(digest_until=now)
        if won != 1:
            continue
        if not Membership.objects.filter(workspace=pref.workspace, user=pref.user).exists():
            continue
        items = list(
            Alert.objects.filter(
                workspace=pref.workspace, created_at__gt=since, created_at__lte=now
            )
            .select_related("workspace", "post", "platform")
            .order_by("created_at", "id")
        )
        if items and pref.user.is_active and pref.user.email:
            sent += _send(pref.user, pref.workspace, items, digest=True)
    return sent


def _send(user: User, workspace: Workspace, alerts: list[Alert], *, digest: bool) -> int:
    with translation.override(user.language or settings.LANGUAGE_CODE):
        views = [describe(a) for a in alerts]
        for view in views:
            view.url = post_url(view.alert)
        context = {
            "user": user,
            "workspace": workspace,
            "alerts": views,
            "digest": digest,
            "alerts_url": absolute(reverse("posting:alerts", kwargs={"code": workspace.code})),
            "settings_url": absolute(
                reverse("posting:alert_settings", kwargs={"code": workspace.code})
            ),
        }
        if digest:
            subject = ngettext(
                "%(workspace)s: %(count)d alert in the last hour",
                "%(workspace)s: %(count)d alerts in the last hour",
                len(alerts),
            )
        else:
            subject = ngettext(
                "%(workspace)s: %(count)d post needs attention",
                "%(workspace)s: %(count)d posts need attention",
                len(alerts),
            )
        subject = subject % {"workspace": workspace.name, "count": len(alerts)}
        text = render_to_string("posting/email/alerts.txt", context)
        html = render_to_string("posting/email/alerts.html", context)
    message = EmailMultiAlternatives(subject, text, to=[user.email])
    message.attach_alternative(html, "text/html")
    message.send()
    return 1
