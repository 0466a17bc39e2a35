"""django-q2 entry points: each takes ids, calls one service and returns (the logic lives there).

forward_post(post_id)   uploads cluster: send a QUEUED post's video to Taisly
recheck_post(post_id)   uploads cluster: read history again for a NEEDS_CHECK post
edit_post(post_id)      uploads cluster: an edit's cancel at Taisly and re-create
make_thumbnail(id, n)   default cluster: a post's thumbnail from its kept video (try n)
cleanup_videos()        default cluster, daily (schedule CLEANUP_SCHEDULE): retention
sync_dispatch()         default cluster, every minute (SYNC_SCHEDULE): enqueue due syncs
sync_connection(id, t)  default cluster: one workspace's background sync (ticket t)
results_watch()         default cluster, while results are due (started by a send and by
                        sync_dispatch): reads each such workspace when its results are due
prune_ledger()          default cluster, daily (LEDGER_SCHEDULE): drop old ledger rows
alerts_scan()           default cluster, every minute (ALERTS_SCHEDULE): stuck posts, keys, and
                        anything a sync's own call missed; queues the webhook tries that are
                        due into the webhooks cluster (it makes none itself)
alerts_email(ids)       default cluster: the "immediately" emails of one batch of alerts
alerts_digest()         default cluster, hourly (DIGEST_SCHEDULE): the hourly digests
webhook_send(id)        webhooks cluster (the webhook lane): one try of one webhook delivery
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_q.models import Schedule

from posting.alerts import emails
from posting.alerts import rules as alerts
from posting.alerts.webhooks import delivery
from posting.mirror import background
from posting.schedules import SYNC_SCHEDULE
from posting.sending import cleanup, edits, forward, reconcile, stalled, thumbnails


def forward_post(post_id: int) -> str:
    return forward.post_forward(post_id=post_id)


def recheck_post(post_id: int) -> str:
    return reconcile.post_recheck(post_id=post_id)


def edit_post(post_id: int) -> str:
    return edits.post_replace(post_id=post_id)


def make_thumbnail(post_id: int, attempt: int = 1) -> str:
    return thumbnails.thumbnail_make(post_id=post_id, attempt=attempt)


def cleanup_videos() -> str:
    outcome = cleanup.videos_cleanup()
    failed = (
        "; the storage failed, the rest wait for the next run" if outcome.storage_failed else ""
    )
    return (
        f"{outcome.videos_deleted} videos, {outcome.temp_files_deleted} temp files deleted{failed}"
    )


def check_stalled_sends() -> str:
    sends = stalled.stalled_sends_check()
    others = stalled.stalled_edits_check()
    said = "".join(f", {count} {outcome}" for outcome, count in sorted(others.items()))
    return f"{sends} stalled sends to be checked{said}"


def sync_dispatch() -> str:
    enqueued = background.sync_dispatch()
    _bring_schedule_forward()
    return f"{enqueued} syncs enqueued"


def sync_connection(connection_id: int, ticket: str) -> str:
    return background.sync_connection(connection_id=connection_id, ticket=ticket)


def results_watch() -> str:
    return background.results_watch()


def prune_ledger() -> str:
    return f"{background.ledger_prune()} ledger rows deleted"


def _bring_schedule_forward() -> None:
    # django-q2 schedules run at most once a minute; a shorter SYNC_DISPATCH_SECONDS (tests)
    # moves this schedule's next run closer. Its scheduler still only looks every 30 s or so.
    if settings.SYNC_DISPATCH_SECONDS < 60:
        Schedule.objects.filter(name=SYNC_SCHEDULE).update(
            next_run=timezone.now() + timedelta(seconds=settings.SYNC_DISPATCH_SECONDS)
        )


def alerts_scan() -> str:
    batch = alerts.alerts_scan()
    retries = delivery.deliveries_due()
    return f"{len(batch.raised)} alerts raised, {batch.resolved} resolved, {retries} retries"


def alerts_email(alert_ids: list[int]) -> str:
    return f"{emails.alerts_email(alert_ids=alert_ids)} emails sent"


def alerts_digest() -> str:
    return f"{emails.alerts_digest()} digests sent"


def webhook_send(delivery_id: int) -> str:
    return delivery.delivery_send(delivery_id=delivery_id)
