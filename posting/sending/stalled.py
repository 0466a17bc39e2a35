"""Sends whose worker stopped mid-send (killed, restarted): taken to NEEDS_CHECK, never re-sent.

A SENDING post's progress is written to its row as the bytes go out; one with nothing written for
longer than the uploads cluster's task timeout has no worker left. The video may have reached
Taisly, so history is read again (NEEDS_CHECK schedules it) or a person decides, as after any
ambiguous send.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from posting.models import Post
from posting.sending import outcomes, queueing


def stalled_sends_check(*, now: datetime | None = None) -> int:
    """SENDING posts whose worker stopped mid-send (killed, restarted): the video may have reached
    Taisly, so each goes to NEEDS_CHECK, where history is read again later. Never re-sent here."""
    now = now or timezone.now()
    cutoff = now - stalled_after()
    stalled = Post.objects.filter(state=Post.State.SENDING).filter(
        Q(progress_at__lt=cutoff) | Q(progress_at__isnull=True, sending_started_at__lt=cutoff)
    )
    count = 0
    for post in stalled.select_related("workspace"):
        outcomes.needs_check(post, lambda: _("The upload worker stopped while sending it"))
        count += 1
    return count


def stalled_after() -> timedelta:
    """How long a SENDING post may go without progress before its worker is taken for dead: the
    uploads cluster's task timeout, and five minutes more."""
    uploads = settings.Q_CLUSTER.get("ALT_CLUSTERS", {}).get(queueing.UPLOADS_CLUSTER, {})
    return timedelta(seconds=uploads.get("timeout", settings.Q_CLUSTER.get("timeout", 1800)) + 300)
