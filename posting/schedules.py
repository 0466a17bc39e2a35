"""The posting app's standing django-q2 schedules, created once after migrating.

A schedule is found by its name, so running ``migrate`` again (or on several nodes) never makes a
second one; an operator's changes to its timing are kept.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

CLEANUP_SCHEDULE = "posting: delete kept videos and abandoned uploads (daily)"
STALLED_SCHEDULE = "posting: stalled uploads to a check (every 10 minutes)"


def ensure_schedules(*, using: str = "default", **kwargs) -> None:
    from django.db import router
    from django_q.models import Schedule

    # post_migrate runs for every database migrated (the sandbox's too): only where the
    # schedules live.
    if not router.allow_migrate_model(using, Schedule):
        return
    Schedule.objects.using(using).get_or_create(
        name=CLEANUP_SCHEDULE,
        defaults={
            "func": "posting.tasks.cleanup_videos",
            "schedule_type": Schedule.DAILY,
            "repeats": -1,
            "next_run": timezone.now() + timedelta(hours=1),
        },
    )
    Schedule.objects.using(using).get_or_create(
        name=STALLED_SCHEDULE,
        defaults={
            "func": "posting.tasks.check_stalled_sends",
            "schedule_type": Schedule.MINUTES,
            "minutes": 10,
            "repeats": -1,
            "next_run": timezone.now() + timedelta(minutes=10),
        },
    )
