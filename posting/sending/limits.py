"""What one person and one workspace may have at once: uploads being received per person
(``POST_UPLOADS_PER_USER``) and kept videos per workspace (``WORKSPACE_VIDEO_STORAGE_MB``:
posts' videos within their retention, and every draft's video).

    compose POST ──storage_precheck (Content-Length alone: refused before a byte is read when
         │                       even the smallest video the body can hold does not fit)
         ├─upload_take──> UploadInProgress row (refused past the per-person limit)
         │ body read, probed
         ├─ receive.post_create ──storage_check (in its transaction, workspace row locked)
         └─ finally: upload_release (the row goes, whatever happened)

A process that dies mid-upload cannot release its row: the row stops counting at its expiry,
which is the longest its body may take (``taisly_dash.wsgi_input.body_seconds``) plus a margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User, Workspace
from posting.models import Draft, Post, UploadInProgress
from posting.sending.errors import PostActionError
from taisly_dash.wsgi_input import body_seconds

#: After the body has arrived: the probe, the save and the answer.
AFTER_BODY_SECONDS = 10 * 60


class UploadLimitReached(PostActionError):
    """The person already has ``POST_UPLOADS_PER_USER`` uploads being received."""


class StorageFull(PostActionError):
    """The workspace's kept videos leave no room for the video on its way in."""


def upload_take(*, user: User, workspace: Workspace, size: int) -> UploadInProgress:
    """Count this upload as in progress for ``user``, or raise ``UploadLimitReached``.

    The user's row is locked while counting, so two processes starting uploads for one person
    at the same moment count one after the other.
    """
    limit = settings.POST_UPLOADS_PER_USER
    now = timezone.now()
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).values_list("pk").first()
        UploadInProgress.objects.filter(user=user, expires_at__lte=now).delete()
        if UploadInProgress.objects.filter(user=user).count() >= limit:
            raise UploadLimitReached(
                ngettext(
                    "You already have %(count)s upload on its way in. Wait until it has "
                    "finished, then send this one.",
                    "You already have %(count)s uploads on their way in. Wait until one of "
                    "them has finished, then send this one.",
                    limit,
                )
                % {"count": limit}
            )
        expires = now + timedelta(seconds=body_seconds(size) + AFTER_BODY_SECONDS)
        return UploadInProgress.objects.create(
            user=user, workspace=workspace, size=size, started_at=now, expires_at=expires
        )


def upload_release(upload: UploadInProgress) -> None:
    """The upload's request has ended: it no longer counts."""
    UploadInProgress.objects.filter(pk=upload.pk).delete()


def uploads_expired_cleanup(*, now=None) -> int:
    """Delete rows left by processes that died mid-upload (they no longer count anyway)."""
    deleted, _by_model = UploadInProgress.objects.filter(
        expires_at__lte=now or timezone.now()
    ).delete()
    return deleted


@dataclass(frozen=True)
class Storage:
    used: int
    limit: int

    @property
    def used_label(self) -> str:
        return filesizeformat(self.used)

    @property
    def limit_label(self) -> str:
        return filesizeformat(self.limit)


def storage_limit() -> int:
    return int(settings.WORKSPACE_VIDEO_STORAGE_MB * 1024 * 1024)


def workspace_storage(workspace: Workspace) -> Storage:
    """Bytes of videos ``workspace`` keeps (one query), against its limit."""
    return Storage(used=_kept_bytes(workspace), limit=storage_limit())


def storage_check(*, workspace: Workspace, size: int) -> None:
    """Raise ``PostActionError`` when keeping ``size`` more bytes of video would take
    ``workspace`` past ``WORKSPACE_VIDEO_STORAGE_MB``. Call it inside the transaction that
    keeps the video: it locks the workspace's row, so two uploads cannot both take the last
    space."""
    Workspace.objects.select_for_update().filter(pk=workspace.pk).values_list("pk").first()
    storage = workspace_storage(workspace)
    if storage.used + size <= storage.limit:
        return
    raise PostActionError(
        _(
            "This workspace already keeps %(used)s of videos and may keep %(limit)s, so this "
            "video (%(size)s) does not fit. A video is deleted %(days)s days after its post "
            "was sent, cancelled or given up, and when its draft is deleted, which frees space; "
            "a smaller video may fit now."
        )
        % {
            "used": storage.used_label,
            "limit": storage.limit_label,
            "size": filesizeformat(size),
            "days": settings.POST_VIDEO_RETAIN_DAYS,
        }
    )


def storage_precheck(*, workspace: Workspace, at_least: int, frees: int = 0) -> None:
    """Raise ``StorageFull`` before the body is read when a video of ``at_least`` bytes (the
    request's Content-Length less what the form's other fields can take) would take
    ``workspace`` past its limit; ``frees``: the bytes the upload replaces (a draft's video).
    Content-Length can lie, so ``storage_check`` runs again once the video is in."""
    if at_least <= 0:
        return
    storage = workspace_storage(workspace)
    if storage.used - frees + at_least <= storage.limit:
        return
    raise StorageFull(
        _(
            "This workspace already keeps %(used)s of videos and may keep %(limit)s, so a "
            "video of %(size)s or more does not fit. Nothing was uploaded. A video is deleted "
            "%(days)s days after its post was sent, cancelled or given up, and when its draft "
            "is deleted; choose a smaller video, or send it once space is free."
        )
        % {
            "used": storage.used_label,
            "limit": storage.limit_label,
            "size": filesizeformat(at_least),
            "days": settings.POST_VIDEO_RETAIN_DAYS,
        }
    )


def kept_videos():
    """Posts whose video is still kept. A retry of failed platforms shares its original's file,
    and so does each member of a post with a caption per network (``Post.group``): each file
    is counted once, with its original or its group's lead."""
    return Post.objects.filter(
        video_deleted_at__isnull=True, retry_of__isnull=True, group__isnull=True
    ).exclude(video="")


def kept_drafts():
    """Drafts not yet sent with a video: kept until the draft is sent (the post then owns the
    file, and retention applies) or deleted."""
    return Draft.objects.filter(sent_at__isnull=True).exclude(video="")


def _kept_bytes(workspace: Workspace) -> int:
    posts = kept_videos().filter(workspace=workspace).aggregate(total=Sum("video_size"))
    drafts = kept_drafts().filter(workspace=workspace).aggregate(total=Sum("video_size"))
    return (posts["total"] or 0) + (drafts["total"] or 0)
