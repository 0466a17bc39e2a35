"""The sandbox clock: every time the sandbox uses comes from `now()` (real now + a stored offset).

Tests move it forward with POST /control/clock instead of sleeping; rate windows and post
statuses follow it. The offset is a database row, so all server threads agree on it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db.models import F
from django.utils import timezone

from sandbox.models import Clock

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def offset_seconds() -> float:
    offset = Clock.objects.filter(pk=1).values_list("offset_seconds", flat=True).first()
    return offset or 0.0


def now() -> datetime:
    """The sandbox's current time, UTC, truncated to whole milliseconds."""
    return truncate_ms(timezone.now() + timedelta(seconds=offset_seconds()))


def advance(seconds: float) -> None:
    Clock.objects.get_or_create(pk=1)
    Clock.objects.filter(pk=1).update(offset_seconds=F("offset_seconds") + seconds)


def set_offset(seconds: float) -> None:
    """Put the clock ``seconds`` away from real now (negative: in the past). For seeding a
    history that looks weeks old: calls made meanwhile are dated, and rate-counted, then."""
    Clock.objects.update_or_create(pk=1, defaults={"offset_seconds": seconds})


def reset() -> None:
    Clock.objects.update_or_create(pk=1, defaults={"offset_seconds": 0})


def truncate_ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def to_ms(moment: datetime) -> int:
    # Exact integer arithmetic: timestamp() * 1000 can land one millisecond short.
    return (moment - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and a Z, as a JavaScript backend writes it."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
