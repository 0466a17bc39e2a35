"""Outgoing webhooks: a workspace's endpoints, one delivery per alert, and each try."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.fields import EncryptedTextField
from accounts.models import Workspace
from posting.models.alerts import Alert


class WebhookEndpoint(models.Model):
    class Format(models.TextChoices):
        JSON = "json", _("Signed JSON")
        SLACK = "slack", _("Slack incoming webhook")

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(_("URL"), max_length=500)
    format = models.CharField(_("format"), max_length=8, choices=Format.choices)
    #: Alert kinds sent here; empty means every kind.
    events = models.JSONField(default=list, blank=True)
    #: The owner's own signing secret (HMAC-SHA256), encrypted at rest.
    secret = EncryptedTextField(blank=True, default="")
    enabled = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    #: Since when every delivery has failed (None after a success).
    failing_since = models.DateTimeField(null=True, blank=True)
    #: When "Send a test event" and "Redeliver" were last pressed (unix seconds, the window of
    #: WEBHOOK_MANUAL_WINDOW_SECONDS only): their rate limit, counted under the row's lock.
    manual_sends = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.format} {self.url}"

    def wants(self, kind: str) -> bool:
        return not self.events or kind in self.events


class WebhookDelivery(models.Model):
    """One event sent to one endpoint, with its tries."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    #: None for a test event.
    alert = models.ForeignKey(
        Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=32)
    #: The facts sent (the body is built from them at each try, signed with the time of the try).
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    #: Tries made since the delivery was created or last redelivered.
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    #: Set while a try is in flight (its lease); still set when due again means the try's
    #: worker stopped mid-try.
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "alert"],
                condition=Q(alert__isnull=False),
                name="one_delivery_per_endpoint_and_alert",
            )
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint_id}: {self.state}"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery, as the delivery log shows it."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="tries")
    number = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now)
    #: None when no answer came (refused address, timeout, connection error).
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    #: The first bytes of the answer, or why there was none.
    response_head = models.TextField(blank=True)
    ok = models.BooleanField(default=False)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"try {self.number} of {self.delivery_id}: {self.status}"
