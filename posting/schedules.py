"""The posting app's standing django-q2 schedules, created once after migrating.

A schedule is found by its name, so running ``migrate`` again (or on several nodes) never makes a
second one; an operator's changes to its timing are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import router
from django.utils import timezone
from django_q.models import Schedule

CLEANUP_SCHEDULE = "posting: delete kept videos and abandoned uploads (daily)"
STALLED_SCHEDULE = "posting: stalled uploads to a check (every 10 minutes)"
SYNC_SCHEDULE = "posting: background sync of due workspaces (every minute)"
LEDGER_SCHEDULE = "posting: prune the Taisly request ledger (daily)"
ALERTS_SCHEDULE = "posting: alerts for stuck posts and keys; webhook retries (every minute)"
DIGEST_SCHEDULE = "posting: hourly alert digests (hourly)"


@dataclass(frozen=True)
class Standing:
    name: str
    func: str
    schedule_type: str
    #: Minutes between runs, for ``Schedule.MINUTES``.
    minutes: int | None
    #: How long after the first ``migrate`` the first run is.
    first_run_in: timedelta


SCHEDULES = (
    Standing(
        CLEANUP_SCHEDULE, "posting.tasks.cleanup_videos", Schedule.DAILY, None, timedelta(hours=1)
    ),
    Standing(
        STALLED_SCHEDULE,
        "posting.tasks.check_stalled_sends",
        Schedule.MINUTES,
        10,
        timedelta(minutes=10),
    ),
    Standing(SYNC_SCHEDULE, "posting.tasks.sync_dispatch", Schedule.MINUTES, 1, timedelta(0)),
    Standing(
        LEDGER_SCHEDULE, "posting.tasks.prune_ledger", Schedule.DAILY, None, timedelta(hours=2)
    ),
    Standing(ALERTS_SCHEDULE, "posting.tasks.alerts_scan", Schedule.MINUTES, 1, timedelta(0)),
    Standing(
        DIGEST_SCHEDULE, "posting.tasks.alerts_digest", Schedule.HOURLY, None, timedelta(hours=1)
    ),
)


def ensure_schedules(*, using: str = "default", **kwargs) -> None:
    # post_migrate runs for every database migrated (the sandbox's too): only where the
    # schedules live.
    if not router.allow_migrate_model(using, Schedule):
        return
    now = timezone.now()
    for standing in SCHEDULES:
        defaults = {
            "func": standing.func,
            "schedule_type": standing.schedule_type,
            "repeats": -1,
            "next_run": now + standing.first_run_in,
        }
        if standing.minutes is not None:
            defaults["minutes"] = standing.minutes
        Schedule.objects.using(using).get_or_create(name=standing.name, defaults=defaults)
