"""The local mirror of a workspace's Taisly account, and the dashboard's own posts.

Pages render from these rows, never from a live Taisly call (a STARTER key has 50 requests an
hour). Writes go to Taisly first and the mirror is updated from its answer; history sync fills in
what changed on Taisly's side.

    Workspace ─┬─ MirrorState (when each part was last synced)
               ├─ Platform* (a connected social account; marked gone, never deleted)
               ├─ Post* ─── PostResult* (one per platform: PENDING → SUCCESS | FAILED)
               └─ RepostRule* (from one platform to others)
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import TaislyConnection, Workspace


class Network(models.TextChoices):
    TIKTOK = "TikTok", "TikTok"
    INSTAGRAM = "Instagram", "Instagram"
    YOUTUBE = "YouTube", "YouTube"
    X = "X", "X"
    FACEBOOK = "Facebook", "Facebook"


#: Caption limits per network (taisly-api: 2,200 characters; X allows 100).
DESCRIPTION_LIMIT = 2200
DESCRIPTION_LIMITS = {Network.X: 100}


def description_limit(network: str) -> int:
    return DESCRIPTION_LIMITS.get(network, DESCRIPTION_LIMIT)


class MirrorState(models.Model):
    """When each part of a workspace's mirror was last read from Taisly."""

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, related_name="mirror_state"
    )
    platforms_synced_at = models.DateTimeField(null=True, blank=True)
    history_synced_at = models.DateTimeField(null=True, blank=True)
    reposts_synced_at = models.DateTimeField(null=True, blank=True)
    # A new connection's page backfill (posting/sync.py) cut short by the governor: the next
    # page to read, and the due time of the oldest post it read so far. Null when no backfill
    # is under way; history_synced_at still says when the mirror was last read.
    backfill_page = models.PositiveIntegerField(null=True, blank=True)
    backfill_before = models.DateTimeField(null=True, blank=True)

    # Background sync (posting/background.py). The dispatcher hands a due workspace a ticket
    # (conditional update: one dispatcher wins); the task spends the ticket to take a lease
    # (conditional update: one task syncs; a redelivered task finds no ticket and does nothing).
    sync_ticket = models.UUIDField(null=True, blank=True)
    sync_ticket_at = models.DateTimeField(null=True, blank=True)
    sync_claimed_until = models.DateTimeField(null=True, blank=True)
    #: After an outage or a refused budget: not before this.
    sync_retry_at = models.DateTimeField(null=True, blank=True)
    #: Failures in a row (5xx, timeouts): the back-off doubles with each.
    sync_failures = models.PositiveSmallIntegerField(default=0)
    #: What the last background sync met (a machine word: "", "outage", "budget", "invalid", ...).
    sync_error = models.CharField(max_length=32, blank=True)
    sync_attempted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"mirror of {self.workspace}"


class Platform(models.Model):
    """A social account connected in Taisly, as last seen there."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="platforms")
    taisly_id = models.CharField(_("Taisly id"), max_length=64)
    network = models.CharField(_("network"), max_length=32)
    name = models.CharField(_("account name"), max_length=200, blank=True)
    avatar_url = models.URLField(_("avatar"), max_length=500, blank=True)
    connected = models.BooleanField(_("connected"), default=True)
    #: Set when the platform no longer appears in Taisly's list: history keeps its name.
    gone_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["network", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "taisly_id"], name="unique_platform_per_workspace"
            ),
        ]
        verbose_name = _("platform")
        verbose_name_plural = _("platforms")

    def __str__(self) -> str:
        return f"{self.network} {self.name or self.taisly_id}"

    @property
    def is_usable(self) -> bool:
        """True when a post may be sent to it."""
        return self.connected and self.gone_at is None

    @property
    def description_limit(self) -> int:
        return description_limit(self.network)


class Post(models.Model):
    """A video post: made here (and sent by the uploads worker) or found in Taisly's history."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        SEND_FAILED = "send_failed", _("Send failed")
        NEEDS_CHECK = "needs_check", _("Needs a check")
        CANCELLED = "cancelled", _("Cancelled")

    class Origin(models.TextChoices):
        DASHBOARD = "dashboard", _("Made in the dashboard")
        HISTORY = "history", _("Found in Taisly history")

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="posts")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="posts",
    )
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.DASHBOARD)
    description = models.TextField(_("description"), blank=True)
    cover_second = models.FloatField(_("cover frame (seconds)"), default=0)
    #: The time the user chose; None for "post now".
    scheduled_at = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    #: When it goes (or went) out: the scheduled time, or the send time for "post now". The
    #: calendar and the overview's "next" list read this one column.
    due_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.QUEUED)
    #: Why it is SEND_FAILED, NEEDS_CHECK or waiting to be tried again: stored in every shipped
    #: language (posting.reasons.store) or as an untranslated message id; shown with
    #: ``state_reason_display`` in the viewer's language.
    state_reason = models.TextField(blank=True)
    #: Taisly's history id, once Taisly has it. NULL (not "") until then, so the unique
    #: constraint below holds only for posts Taisly knows.
    taisly_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    #: The platforms chosen in the form (results arrive per platform once Taisly answers).
    target_platforms = models.ManyToManyField(Platform, blank=True, related_name="targeted_by")

    # The video, kept for POST_VIDEO_RETAIN_DAYS after sending.
    video = models.FileField(upload_to="posts/%Y/%m/", max_length=300, blank=True)
    video_name = models.CharField(_("file name"), max_length=255, blank=True)
    video_size = models.BigIntegerField(_("size"), default=0)
    video_duration = models.FloatField(_("duration"), null=True, blank=True)
    video_width = models.PositiveIntegerField(null=True, blank=True)
    video_height = models.PositiveIntegerField(null=True, blank=True)
    video_deleted_at = models.DateTimeField(null=True, blank=True)

    # The forward to Taisly.
    idempotency_token = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    progress_bytes = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    progress_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    #: NEEDS_CHECK: the posts in Taisly's history that could be this one, as read then (id,
    #: description, date, per-platform results), for a person to choose from.
    send_candidates = models.JSONField(default=list, blank=True)
    #: An earlier try may have reached Taisly and its history could not be read to tell: the
    #: next try reads history before it sends anything.
    must_reconcile = models.BooleanField(default=False)

    #: A retry of another post's failed platforms (issue "Nothing fails silently").
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "taisly_id"],
                condition=Q(taisly_id__isnull=False),
                name="unique_taisly_post_per_workspace",
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "-created_at", "-id"]),
            models.Index(fields=["workspace", "due_at"]),
            models.Index(fields=["state"]),
        ]
        verbose_name = _("post")
        verbose_name_plural = _("posts")

    def __str__(self) -> str:
        return self.description[:60] or str(self.code)

    @property
    def state_reason_display(self) -> str:
        from posting.reasons import shown

        return shown(self.state_reason)

    @property
    def is_local_pending(self) -> bool:
        """True while the dashboard still has the post's fate in its hands."""
        return self.state in (self.State.QUEUED, self.State.SENDING)


class PostResult(models.Model):
    """One platform's outcome for a post, as Taisly's history reports it."""

    class Status(models.TextChoices):
        PENDING = "PENDING", _("Pending")
        SUCCESS = "SUCCESS", _("Posted")
        FAILED = "FAILED", _("Failed")

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="results")
    # RESTRICT, not PROTECT: a platform with results cannot be deleted alone, but goes with its
    # workspace (PROTECT refused that too: deleting a workspace with posts raised ProtectedError).
    platform = models.ForeignKey(Platform, on_delete=models.RESTRICT, related_name="results")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    #: Taisly's machine code when FAILED (``DESCRIPTION_TOO_LONG``), and any human message.
    code = models.CharField(max_length=100, blank=True)
    message = models.TextField(blank=True)
    is_repost = models.BooleanField(default=False)
    #: The platform whose post this one was auto-reposted from.
    repost_of = models.ForeignKey(
        Platform, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    status_changed_at = models.DateTimeField(default=timezone.now)
    #: When a member first opened the post page after it FAILED; the overview lists FAILED
    #: results nobody has looked at yet. Cleared when the result fails again.
    seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["platform__network", "id"]
        constraints = [
            models.UniqueConstraint(fields=["post", "platform"], name="unique_result_per_platform"),
        ]
        indexes = [
            models.Index(fields=["status"]),
            # The history filters ask "has this post a FAILED result?" per post: without this,
            # SQLite answers through the status index and scans every failure for every post.
            models.Index(fields=["post", "status"]),
            # The overview's "failed, nobody has looked yet", newest first: read in index order
            # rather than sorting every unseen failure.
            models.Index(
                fields=["-status_changed_at", "-id"],
                condition=Q(status="FAILED", seen_at__isnull=True),
                name="result_unseen_failure_idx",
            ),
        ]
        verbose_name = _("result")
        verbose_name_plural = _("results")

    def __str__(self) -> str:
        return f"{self.post_id} on {self.platform_id}: {self.status}"


class RepostRule(models.Model):
    """Taisly's auto-repost rule: a post to ``from_platform`` is reposted to ``to_platforms``."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="repost_rules")
    taisly_id = models.CharField(max_length=64)
    from_platform = models.ForeignKey(
        Platform, on_delete=models.RESTRICT, related_name="reposts_from"
    )
    to_platforms = models.ManyToManyField(Platform, related_name="reposts_to")
    paused = models.BooleanField(_("paused"), default=False)
    #: Who made it here; None for a rule made in Taisly's own app.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "taisly_id"], name="unique_repost_rule_per_workspace"
            ),
        ]
        verbose_name = _("repost rule")
        verbose_name_plural = _("repost rules")

    def __str__(self) -> str:
        return f"rule {self.taisly_id} from {self.from_platform_id}"


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
from posting.models_alerts import (  # noqa: E402, F401
    Alert,
    AlertPreference,
    AlertRead,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
