"""Work whose process stopped midway (killed, restarted), found by the scheduler's check:

- a SENDING post's progress is written to its row as the bytes go out; one with nothing written
  for longer than the uploads cluster's task timeout has no worker left. The video may have
  reached Taisly, so it goes to NEEDS_CHECK (history is read again, or a person decides, as
  after any ambiguous send); never re-sent here;
- an edit (a group's lead EDITING or REPLACING) asked for or claimed that long ago: its worker
  died or its task was lost. ``edits.edit_resume`` claims it again and decides from Taisly's
  history: resumed once, or settled with an alert saying what is scheduled now;
- a cancel (CANCELLING) whose web process died at Taisly: history says whether the post is
  still there (SENT again) or gone (CANCELLED).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from posting.models import Post
from posting.sending import cancel, edits, outcomes, queueing


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


def stalled_edits_check(*, now: datetime | None = None) -> dict[str, int]:
    """Edits and cancels stopped midway (see the module): each claimed and settled once. Returns
    how many ended which way."""
    now = now or timezone.now()
    cutoff = now - stalled_after()
    ended: dict[str, int] = {}
    leads = Post.objects.filter(
        group__isnull=True,
        state__in=(Post.State.EDITING, Post.State.REPLACING),
        updated_at__lt=cutoff,
    ).values_list("pk", flat=True)
    for pk in list(leads):
        outcome = edits.edit_resume(post_id=pk, stale_before=cutoff, now=now)
        ended[outcome] = ended.get(outcome, 0) + 1
    cancelling = Post.objects.filter(state=Post.State.CANCELLING, updated_at__lt=cutoff)
    for pk in list(cancelling.values_list("pk", flat=True)):
        outcome = cancel.cancel_settle(post_id=pk, stale_before=cutoff, now=now)
        ended[outcome] = ended.get(outcome, 0) + 1
    return ended


def stalled_after() -> timedelta:
    """How long a SENDING post may go without progress before its worker is taken for dead: the
    uploads cluster's task timeout, and five minutes more."""
    uploads = settings.Q_CLUSTER.get("ALT_CLUSTERS", {}).get(queueing.UPLOADS_CLUSTER, {})
    return timedelta(seconds=uploads.get("timeout", settings.Q_CLUSTER.get("timeout", 1800)) + 300)
