"""Drafts: a post saved without sending it. No Taisly request is made for a draft; its video is
kept (and counts against the workspace's kept-video storage) until the draft is sent or
deleted. Retention (``posting.sending.cleanup``) never touches a draft."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Workspace
from posting.models.mirror import Platform
from posting.models.posts import Post, thumbnail_version


class Draft(models.Model):
    """A post being prepared: the caption (and any caption per network), the accounts, a
    planned time and cover, and its video. Sending it makes the post (``posting.sending.drafts``)
    and records which one, so a second click finds the post the first made."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="drafts")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="drafts",
    )
    description = models.TextField(_("description"), blank=True)
    #: A caption per network ({"X": "…"}) where it differs from ``description``; empty when one
    #: caption is for all.
    captions = models.JSONField(default=dict, blank=True)
    cover_second = models.FloatField(_("cover frame (seconds)"), default=0)
    #: The planned time; None for "post now" once sent. The calendar shows drafts by it.
    scheduled_at = models.DateTimeField(_("planned for"), null=True, blank=True)
    target_platforms = models.ManyToManyField(Platform, blank=True, related_name="drafted_for")

    video = models.FileField(upload_to="posts/%Y/%m/", max_length=300, blank=True)
    video_name = models.CharField(_("file name"), max_length=255, blank=True)
    video_size = models.BigIntegerField(_("size"), default=0)
    video_duration = models.FloatField(_("duration"), null=True, blank=True)
    video_width = models.PositiveIntegerField(null=True, blank=True)
    video_height = models.PositiveIntegerField(null=True, blank=True)
    #: The frame at ``cover_second``, made by a worker as a post's is (posting.sending.thumbnails)
    #: and made again when the video or the cover changes; empty while it is being made and
    #: without a video. Deleted with the draft; handed to the post when the draft is sent.
    thumbnail = models.FileField(upload_to="thumbnails/%Y/%m/", max_length=300, blank=True)

    #: The compose form's one-time id: a double click saves one draft.
    idempotency_token = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    #: Set when the draft was sent: the post it became (the video now belongs to it).
    sent_post = models.ForeignKey(
        Post, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(
                fields=["workspace", "-updated_at", "-id"],
                condition=models.Q(sent_at__isnull=True),
                name="draft_open_idx",
            ),
            models.Index(
                fields=["workspace", "scheduled_at"],
                condition=models.Q(sent_at__isnull=True),
                name="draft_planned_idx",
            ),
        ]
        verbose_name = _("draft")
        verbose_name_plural = _("drafts")

    def __str__(self) -> str:
        return self.description[:60] or str(self.code)

    @property
    def thumbnail_version(self) -> str:
        """As ``Post.thumbnail_version``: the thumbnail's random file name, for its URL."""
        return thumbnail_version(self.thumbnail.name if self.thumbnail else "")
