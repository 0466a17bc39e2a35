"""Alerts by email: each member's choice (immediately, an hourly digest, or none) and the
messages themselves, in the member's language.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import ngettext

from accounts.access import lock_member
from accounts.audit import audit_record
from accounts.models import AuditEvent, Membership, User, Workspace
from posting.alerts.display import absolute, describe, post_url
from posting.models import Alert, AlertPreference

EMAIL_TASK = "posting.tasks.alerts_email"


def default_email(role: str) -> str:
    if role in (Membership.Role.OWNER, Membership.Role.EDITOR):
        return AlertPreference.Email.IMMEDIATELY
    return AlertPreference.Email.OFF


def email_preference_set(
    *, workspace: Workspace, actor: User, email: str, request=None
) -> AlertPreference:
    """The actor's own choice for this workspace's alert emails (any member, for themselves)."""
    if email not in AlertPreference.Email.values:
        raise ValueError(email)
    now = timezone.now()
    with transaction.atomic():
        membership = lock_member(workspace=workspace, actor=actor)
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


def for_user(alerts: list[Alert], user: User) -> list[Alert]:
    """The alerts that are ``user``'s to hear of: everyone's, and the ones for them alone."""
    return [a for a in alerts if a.recipient_id in (None, user.pk)]


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
        .select_related("workspace", "post", "platform", "draft")
        .order_by("created_at", "id")
    )
    by_workspace: dict[int, list[Alert]] = defaultdict(list)
    for alert in alerts:
        by_workspace[alert.workspace_id].append(alert)
    sent = 0
    recipients = _recipients(by_workspace, AlertPreference.Email.IMMEDIATELY)
    for workspace_id, items in by_workspace.items():
        for user, _pref in recipients.get(workspace_id, []):
            mine = for_user(items, user)
            if mine:
                sent += _send(user, items[0].workspace, mine, digest=False)
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
            .filter(Q(recipient__isnull=True) | Q(recipient=pref.user))
            .select_related("workspace", "post", "platform", "draft")
            .order_by("created_at", "id")
        )
        if items and pref.user.is_active and pref.user.email:
            sent += _send(pref.user, pref.workspace, items, digest=True)
    return sent


def _review_subject(kind: str, count: int) -> str | None:
    """The subject of an email of review alerts of one ``kind`` (to the draft's author): what
    happened. None for other kinds (their subject says how many posts need attention)."""
    K = Alert.Kind
    if kind == K.APPROVED:
        return ngettext(
            "%(workspace)s: your post was approved",
            "%(workspace)s: %(count)d of your posts were approved",
            count,
        )
    if kind == K.CHANGES_REQUESTED:
        return ngettext(
            "%(workspace)s: changes were requested on your post",
            "%(workspace)s: changes were requested on %(count)d of your posts",
            count,
        )
    if kind == K.HELD:
        return ngettext(
            "%(workspace)s: your post was approved after its time and is held",
            "%(workspace)s: %(count)d of your posts were approved after their time and are held",
            count,
        )
    if kind == K.RETURNED:
        return ngettext(
            "%(workspace)s: review was turned off, your post is a draft again",
            "%(workspace)s: review was turned off, %(count)d of your posts are drafts again",
            count,
        )
    if kind == K.COMMENTED:
        return ngettext(
            "%(workspace)s: a new comment on your post",
            "%(workspace)s: %(count)d new comments on your posts",
            count,
        )
    return None


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
            "language": translation.get_language(),
            "alerts_url": absolute(reverse("posting:alerts", kwargs={"code": workspace.code})),
            "settings_url": absolute(
                reverse("posting:alert_settings", kwargs={"code": workspace.code})
            ),
        }
        kinds = {a.kind for a in alerts}
        # A review's news to its author: the subject says what happened.
        review = _review_subject(kinds.pop(), len(alerts)) if len(kinds) == 1 else None
        if digest:
            subject = ngettext(
                "%(workspace)s: %(count)d alert in the last hour",
                "%(workspace)s: %(count)d alerts in the last hour",
                len(alerts),
            )
        elif review is not None:
            subject = review
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
