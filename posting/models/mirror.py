"""The mirror of a workspace's Taisly account: its connected platforms, repost rules and when
each part was last synced.

Pages render from these rows, never from a live Taisly call (a STARTER key has 50 requests an
hour). Writes go to Taisly first and the mirror is updated from its answer; history sync fills in
what changed on Taisly's side.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Workspace


class Network(models.TextChoices):
    TIKTOK = "TikTok", "TikTok"
    INSTAGRAM = "Instagram", "Instagram"
    YOUTUBE = "YouTube", "YouTube"
    X = "X", "X"
    FACEBOOK = "Facebook", "Facebook"


#: Caption limits per network (taisly-api: 2,200 characters; X allows 100).
DESCRIPTION_LIMIT = 2200
DESCRIPTION_LIMITS = {Network.X: 100}
#: The longest video Taisly takes, in seconds (taisly-api); also the latest cover frame.
VIDEO_MAX_SECONDS = 90.0


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
