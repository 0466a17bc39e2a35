"""The request ledger (every Taisly request, for the quota governor) and per-key budgets."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import TaislyConnection


class KeyBudget(models.Model):
    """One row per key fingerprint: the row the governor locks while it decides and reserves, so
    every process deciding for the same key (two web processes, two workers) takes turns. It
    exists before any connection holds the key (a connect is counted too)."""

    fingerprint = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return f"budget {self.fingerprint[:8]}…"


class TaislyRequest(models.Model):
    """The ledger: one row per request made to Taisly, by any caller.

    The governor inserts the row (``done=False``, "reserved") before the request leaves and the
    client's ``taisly_call`` signal completes it; a row left reserved (its process died mid-call)
    still counts, since the request may have reached Taisly. Calls not made through the governor
    are recorded by the signal alone. Pruned after ``LEDGER_RETAIN_DAYS``.
    """

    class Kind(models.TextChoices):
        INTERACTIVE = "interactive", _("Interactive")
        BACKGROUND = "background", _("Background")

    #: None for a call of no connection (a key being connected to a workspace without one, the
    #: demo's own checks); the fingerprint still counts it against the key.
    connection = models.ForeignKey(
        TaislyConnection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    fingerprint = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.INTERACTIVE)
    endpoint = models.CharField(max_length=64)
    #: The HTTP status; None when no answer came (timeout, connection lost) or not yet.
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    done = models.BooleanField(default=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            # The governor's and the meter's sliding hour: a range scan of one key's last hour.
            models.Index(fields=["fingerprint", "started_at"]),
            models.Index(fields=["connection", "started_at"]),
            models.Index(fields=["started_at"]),
        ]
        verbose_name = _("Taisly request")
        verbose_name_plural = _("Taisly requests")

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M:%S} {self.endpoint} {self.status}"


# Alerts, their email preferences and outgoing webhooks (issue "Nothing fails silently").
