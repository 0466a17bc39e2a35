"""Retention: delete the videos kept after sending, and uploads abandoned half-way.

The video of a post stays in storage ``POST_VIDEO_RETAIN_DAYS`` after it was sent (or cancelled,
or given up), so a failed platform can be retried from it; ``videos_cleanup`` (daily) deletes it
then. A draft's video is never deleted here: it stays until the draft is deleted (or sent, when
its post takes it over), bounded by the workspace's storage limit.
A retry shares its original's file, and a file already gone is not an error. The same
code serves local disk and an S3-compatible bucket (Django's storage API); a storage that fails
(a bucket that does not answer) stops the run and leaves the rest for the next day's, marked as
kept. The upload temp dir is always this machine's own: each machine cleans its own.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from posting.models import Post
from posting.sending import limits

logger = logging.getLogger(__name__)

State = Post.State


@dataclass(frozen=True)
class CleanupOutcome:
    videos_deleted: int
    temp_files_deleted: int
    #: The storage failed on a delete: the rest of the videos wait for the next run.
    storage_failed: bool = False


def videos_cleanup(*, now: datetime | None = None) -> CleanupOutcome:
    """Delete videos kept longer than ``POST_VIDEO_RETAIN_DAYS`` after sending (or after the
    post was cancelled or given up), and upload temp files abandoned for more than a day."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.POST_VIDEO_RETAIN_DAYS)
    past = Q(state=State.SENT, sent_at__lt=cutoff) | Q(
        state__in=(State.CANCELLED, State.SEND_FAILED), updated_at__lt=cutoff
    )
    # A group's members share its lead's file (posting.sending.groups): it goes with the lead,
    # once every member is past its retention too. Drafts are not posts: never deleted here.
    member_kept = Post.objects.filter(group=OuterRef("pk")).exclude(past)
    done = (
        Post.objects.filter(video_deleted_at__isnull=True, group__isnull=True)
        .exclude(video="")
        .filter(past)
        .exclude(Exists(member_kept))
    )
    deleted, failed = 0, False
    for post in done.only("pk", "code", "video").iterator():
        try:
            post.video.delete(save=False)  # a missing file is not an error for the storage API
        except Exception:  # any storage's failure (OSError, botocore's errors): try tomorrow
            logger.exception("Cleanup: the video of post %s could not be deleted", post.code)
            failed = True
            break
        Post.objects.filter(Q(pk=post.pk) | Q(group=post.pk)).update(video="", video_deleted_at=now)
        deleted += 1
    temp_deleted = _temp_files_cleanup(now)
    limits.uploads_expired_cleanup(now=now)  # left by processes that died mid-upload
    logger.info("Cleanup: %d videos, %d abandoned uploads deleted", deleted, temp_deleted)
    return CleanupOutcome(
        videos_deleted=deleted, temp_files_deleted=temp_deleted, storage_failed=failed
    )


def _temp_files_cleanup(now: datetime) -> int:
    directory = settings.FILE_UPLOAD_TEMP_DIR
    if not directory or not os.path.isdir(directory):
        return 0
    cutoff = now.timestamp() - 24 * 3600
    deleted = 0
    with os.scandir(directory) as entries:
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    deleted += 1
            except FileNotFoundError:
                continue
    return deleted
