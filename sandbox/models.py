"""State of the fake Taisly. Every table lives in the "sandbox" database (see routers.py).

Times are stored as the sandbox clock gave them (real now + offset, truncated to milliseconds, so
they compare exactly with the unix-millisecond numbers the API speaks).
"""

from __future__ import annotations

import secrets

from django.db import models


def object_id() -> str:
    """24 hex characters, shaped like the MongoDB ObjectIds the real Taisly hands out."""
    return secrets.token_hex(12)


class Plan(models.TextChoices):
    FREE = "FREE"
    STARTER = "STARTER"
    INFLUENCER = "INFLUENCER"
    PRO = "PRO"


# Requests per rate window (an hour unless SANDBOX_RATE_WINDOW_SECONDS says otherwise).
RATE_LIMITS = {Plan.FREE: 0, Plan.STARTER: 50, Plan.INFLUENCER: 200, Plan.PRO: 1000}


class Network(models.TextChoices):
    TIKTOK = "TikTok"
    INSTAGRAM = "Instagram"
    YOUTUBE = "YouTube"
    X = "X"
    FACEBOOK = "Facebook"


class Account(models.Model):
    plan = models.CharField(max_length=16, choices=Plan.choices)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Account {self.pk} ({self.plan})"

    @property
    def rate_limit(self) -> int:
        return RATE_LIMITS[Plan(self.plan)]


class ApiKey(models.Model):
    """Only the sha256 of a key is kept; the key itself exists once, in the answer issuing it."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="keys")
    key_hash = models.CharField(max_length=64, unique=True)
    last4 = models.CharField(max_length=4)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.hint

    @property
    def hint(self) -> str:
        return f"taisly_…{self.last4}"


class Platform(models.Model):
    object_id = models.CharField(max_length=24, unique=True, default=object_id)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="platforms")
    network = models.CharField(max_length=16, choices=Network.choices)
    name = models.CharField(max_length=100)
    avatar = models.URLField(blank=True)
    connected = models.BooleanField(default=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.network} {self.name}"


class Post(models.Model):
    object_id = models.CharField(max_length=24, unique=True, default=object_id)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="posts")
    description = models.TextField(blank=True)
    created_at = models.DateTimeField()
    # When the post is due: the scheduled time, else the creation time. History's `date`.
    due_at = models.DateTimeField()
    scheduled = models.BooleanField(default=False)
    scheduled_at_ms = models.BigIntegerField(null=True, blank=True)
    preview_time = models.FloatField(default=0)
    # "OK" or the VIDEO_* code the probe found; the file itself is deleted after probing.
    probe_code = models.CharField(max_length=32)
    video_name = models.CharField(max_length=255, blank=True)
    video_size = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["account", "due_at"])]

    def __str__(self) -> str:
        return f"Post {self.object_id}"


class PostResult(models.Model):
    """One platform of a post. Its status is computed when read (see services.result_status)."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="results")
    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="+")
    repost_of = models.ForeignKey(
        Platform, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # Empty when it will succeed, else the code it will fail with once published.
    failure = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.post_id} on {self.platform_id}"


class RepostRule(models.Model):
    object_id = models.CharField(max_length=24, unique=True, default=object_id)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="repost_rules")
    from_platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="+")
    # Platform object ids, in the order given.
    to_ids = models.JSONField(default=list)
    is_paused = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"Repost rule {self.object_id}"


class ApiCall(models.Model):
    """One counted API call, for the sliding rate window (per account, so a new key is no reset)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["account", "at"])]

    def __str__(self) -> str:
        return f"Call by {self.account_id} at {self.at}"


class Clock(models.Model):
    """A single row: how far the sandbox clock runs ahead of the real one."""

    offset_seconds = models.FloatField(default=0)

    def __str__(self) -> str:
        return f"Clock +{self.offset_seconds} s"


class FaultMode(models.TextChoices):
    ERROR_500 = "500"
    TIMEOUT = "timeout"
    GARBAGE = "garbage"
    RATE_LIMITED = "429"
    DROP = "drop"


class Fault(models.Model):
    """Injected failures for the next `remaining` API calls, consumed oldest first.

    Kept in the database (not in process memory) so every server thread, and any other process
    on the same sandbox database, sees the same queue.
    """

    mode = models.CharField(max_length=16, choices=FaultMode.choices)
    remaining = models.PositiveIntegerField()
    delay = models.FloatField(default=20)
    retry_after = models.PositiveIntegerField(default=30)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.mode} x{self.remaining}"
