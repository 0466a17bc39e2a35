"""Uploads being received right now, one row each, so a person's concurrent uploads are counted
the same by every web process (``posting.sending.limits``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Workspace


class UploadInProgress(models.Model):
    """One upload a web process is receiving. Deleted when its request ends, however it ends; a
    process that dies mid-upload leaves its row, which stops counting at ``expires_at`` (the
    longest the body may take to arrive, and a margin for the checks after it)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads_in_progress"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    size = models.BigIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["user", "expires_at"], name="upload_in_progress_user_idx")]

    def __str__(self) -> str:
        return f"upload by user {self.user_id} since {self.started_at:%Y-%m-%d %H:%M:%S}"
