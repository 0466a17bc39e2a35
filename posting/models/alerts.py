"""Alerts: one per incident, read per person, and each member's email preference.

"Exactly once" is the database's job, not the code's: an Alert is unique per (post, platform,
kind), per (post, kind) among the open ones for post-level kinds (a post that fails, is sent
again and fails again, or an edit of it that fails, is a new incident), and per (workspace, kind)
among the open ones for connection-level kinds (a connection that is fixed and breaks again is a
new incident).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Workspace


class Alert(models.Model):
    class Kind(models.TextChoices):
        FAILED = "failed", _("Failed")
        STUCK = "stuck", _("Stuck")
        CONNECTION_INVALID = "connection_invalid", _("Key no longer works")
        SEND_FAILED = "send_failed", _("Send failed")
        NEEDS_CHECK = "needs_check", _("Needs a check")
        BLOCKED = "blocked", _("Blocked by the rate limit")
        # Review events (posting.approvals), each told to one person (``recipient``): the
        # draft's watchers, and the reviewers of the stage it waits at.
        APPROVED = "approved", _("Approved")
        CHANGES_REQUESTED = "changes_requested", _("Changes requested")
        COMMENTED = "commented", _("New comment")
        HELD = "held", _("Approved but held")
        RETURNED = "returned", _("Returned to drafts")
        REVIEW_REQUESTED = "review_requested", _("Waiting for your review")
        #: An edit was not made and the post stays as it was (``posting.sending.edits``).
        EDIT_FAILED = "edit_failed", _("Edit not made")

    #: Kinds about one platform of one post, about a whole post, about the connection.
    RESULT_KINDS = (Kind.FAILED, Kind.STUCK)
    POST_KINDS = (Kind.SEND_FAILED, Kind.NEEDS_CHECK, Kind.EDIT_FAILED)
    CONNECTION_KINDS = (Kind.CONNECTION_INVALID, Kind.BLOCKED)
    #: Kinds about a draft in review, each for its ``recipient`` only.
    REVIEW_KINDS = (
        Kind.APPROVED,
        Kind.CHANGES_REQUESTED,
        Kind.COMMENTED,
        Kind.HELD,
        Kind.RETURNED,
        Kind.REVIEW_REQUESTED,
    )
    #: The webhook event of a review kind (the others are "alert.<kind>").
    REVIEW_EVENTS = {
        Kind.APPROVED: "post.approved",
        Kind.CHANGES_REQUESTED: "post.changes_requested",
        Kind.COMMENTED: "post.commented",
        Kind.HELD: "post.held",
        Kind.RETURNED: "post.returned",
        Kind.REVIEW_REQUESTED: "post.review_requested",
    }

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="alerts")
    post = models.ForeignKey(
        "posting.Post", null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    platform = models.ForeignKey(
        "posting.Platform", null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    draft = models.ForeignKey(
        "posting.Draft", null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    #: The one member it is for (a review decision, for the draft's author); None: everyone.
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    #: Taisly's machine code (``DESCRIPTION_TOO_LONG``), or "" when there is none.
    error_code = models.CharField(_("code"), max_length=100, blank=True)
    #: Taisly's own words or our sentence (stored untranslated when it is a code of ours).
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    #: Claimed by the one task that sends the "immediately" emails for it.
    emailed_at = models.DateTimeField(null=True, blank=True)
    read_by = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="AlertRead", related_name="+", blank=True
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["post", "platform", "kind"],
                condition=Q(post__isnull=False, platform__isnull=False),
                name="one_alert_per_result_and_kind",
            ),
            models.UniqueConstraint(
                fields=["post", "kind"],
                # A review alert (about a draft, and the post its approval made) is an event
                # told to each watcher: one per person.
                condition=Q(
                    post__isnull=False,
                    platform__isnull=True,
                    resolved_at__isnull=True,
                    draft__isnull=True,
                ),
                name="one_open_alert_per_post_and_kind",
            ),
            models.UniqueConstraint(
                fields=["workspace", "kind"],
                # A review alert (about a draft) is an event: many per workspace and kind.
                condition=Q(post__isnull=True, draft__isnull=True, resolved_at__isnull=True),
                name="one_open_connection_alert_per_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "-created_at", "-id"]),
            models.Index(fields=["kind", "resolved_at"]),
        ]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")

    def __str__(self) -> str:
        return f"{self.kind} in {self.workspace_id} ({self.post_id}/{self.platform_id})"


class AlertRead(models.Model):
    """One person has read one alert (each member reads for themselves)."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="reads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["alert", "user"], name="one_read_per_alert_and_user")
        ]
        indexes = [models.Index(fields=["user", "alert"])]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.alert_id}"


class AlertPreference(models.Model):
    """How one member hears of one workspace's alerts by email. No row: the role's default."""

    class Email(models.TextChoices):
        IMMEDIATELY = "immediately", _("Immediately")
        HOURLY = "hourly", _("Hourly digest")
        OFF = "off", _("Off")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="alert_preferences"
    )
    email = models.CharField(_("email"), max_length=16, choices=Email.choices)
    #: The hourly digest covered alerts up to here (claimed by a conditional update).
    digest_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "workspace"], name="one_alert_preference_per_member"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.workspace_id}: {self.email}"
