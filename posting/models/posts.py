"""The dashboard's posts and their results, one per platform (PENDING → SUCCESS | FAILED)."""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Workspace
from posting.models.mirror import Platform
from posting.models.reasons import shown


class Post(models.Model):
    """A video post: made here (and sent by the uploads worker) or found in Taisly's history."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        SEND_FAILED = "send_failed", _("Send failed")
        NEEDS_CHECK = "needs_check", _("Needs a check")
        CANCELLED = "cancelled", _("Cancelled")
        #: An edit was asked for: the uploads worker will cancel the post at Taisly and make it
        #: again with the edit (``posting.sending.edits``).
        EDITING = "editing", _("Edit waiting")
        #: The uploads worker has claimed the edit and is cancelling the original at Taisly.
        REPLACING = "replacing", _("Being edited")
        #: A person's cancel is at Taisly now (``posting.sending.cancel``): an edit asked for
        #: meanwhile is refused, and the cancel ends CANCELLED or back to SENT.
        CANCELLING = "cancelling", _("Being cancelled")

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
    #: language (posting.models.reasons.store) or as an untranslated message id; shown with
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
    #: The frame at ``cover_second``, made once by a worker (posting.sending.thumbnails) and
    #: served only to the workspace's members; kept after the video, deleted with the post.
    #: Empty for posts whose video the dashboard never had (made in Taisly's own app), and
    #: until the worker has made it.
    thumbnail = models.FileField(upload_to="thumbnails/%Y/%m/", max_length=300, blank=True)

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

    #: One post with a caption per network is one Taisly post per distinct caption: the first
    #: is the group's lead (``group`` is NULL), the others point at it. Pages show a group as
    #: its lead, with every member's platforms (``posting.sending.groups``).
    group = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="group_members"
    )
    #: On a group's lead while an edit waits for the uploads worker: the edit to make (the
    #: time, the cover and each caption's platforms), read by ``posting.sending.edits``.
    edit_pending = models.JSONField(default=dict, blank=True)
    #: The Taisly post an edit cancelled to make this one again; set until it is SENT again, so
    #: a failed re-create can say that nothing is scheduled now.
    replaced_taisly_id = models.CharField(max_length=64, blank=True)

    #: Scheduled by "Add to queue" at a posting slot's time: the queue page lists these (not
    #: every post that happens to sit on a slot time), and keeps them there when the slot
    #: itself is removed later.
    from_queue = models.BooleanField(default=False)

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
            # The calendar reads a caption group as its lead (group NULL): each day's first posts
            # and its total are a range scan of this, the total from the index alone.
            models.Index(
                fields=["workspace", "due_at", "id"],
                condition=Q(group__isnull=True),
                name="post_lead_due_idx",
            ),
            models.Index(fields=["state"]),
        ]
        verbose_name = _("post")
        verbose_name_plural = _("posts")

    def __str__(self) -> str:
        return self.description[:60] or str(self.code)

    @property
    def state_reason_display(self) -> str:
        return shown(self.state_reason)

    @property
    def made_in_taisly_app(self) -> bool:
        """Found in Taisly's history: the dashboard never had its video (nor a thumbnail)."""
        return self.origin == self.Origin.HISTORY

    @property
    def thumbnail_version(self) -> str:
        """What changes when the thumbnail does (its random file name), for its URL: a
        browser may keep each version for long."""
        return thumbnail_version(self.thumbnail.name if self.thumbnail else "")

    @property
    def is_local_pending(self) -> bool:
        """True while the dashboard still has the post's fate in its hands."""
        return self.state in (
            self.State.QUEUED,
            self.State.SENDING,
            self.State.EDITING,
            self.State.REPLACING,
            self.State.CANCELLING,
        )


def thumbnail_version(name: str | None) -> str:
    """The version of a stored thumbnail ``name`` (``thumbnails/2026/05/<hex>.webp`` → the hex
    digits), or "" for none."""
    return PurePosixPath(name).stem if name else ""


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
