"""Posting slots, and the time "Add to queue" picks.

A workspace sets weekly slots (``PostingSlot``: a weekday and a clock time in
``Workspace.time_zone``). A slot's *occurrence* is one instant ("Tue 8 Dec 09:00 Asia/Jakarta").
An occurrence is *taken* when a post of the workspace that is not cancelled is due at exactly
that instant (whether it came from the queue or was scheduled by hand), else *free*.

    compose / a draft, "Add to queue" ──post_create / draft_send(queue=True)──>
        inside the transaction that makes the post, under the workspace's row lock
        (``limits.storage_check`` or ``lock_workspace``): queue_time() = the first free
        occurrence at least QUEUE_LEAD after now, within POST_SCHEDULE_MAX_DAYS
        ──> the post is scheduled there, ``Post.from_queue`` set

Two people adding to the queue at once: the second waits on the row lock until the first has
committed its post, then sees that occurrence taken and gets the next one. (An edit in flight,
EDITING, is still due at its old time until the worker applies it: its new time is not seen as
taken until then.)

The queue itself (its page, reordering) is ``posting.sending.queue``.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.access import lock_writer
from accounts.audit import audit_record
from accounts.models import AuditEvent, User, Workspace
from posting.models import SLOTS_MAX, Post, PostingSlot
from posting.sending.errors import PostActionError

#: "Add to queue" never takes an occurrence sooner than this: the upload and the send to Taisly
#: need a moment, and Taisly refuses a time that has passed.
QUEUE_LEAD = timedelta(minutes=5)
#: Occurrences are checked against the posts this many weeks at a time (one query each).
WEEKS_PER_LOOK = 4

#: A post in these states is not due at its time: its occurrence is free again.
NOT_DUE = (Post.State.CANCELLED,)


def zone_of(workspace: Workspace) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(workspace.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def occurrences(
    slots: Sequence[PostingSlot], zone: zoneinfo.ZoneInfo, start: datetime, end: datetime
) -> Iterator[datetime]:
    """Each slot's occurrences in [start, end), in time order, as aware datetimes in ``zone``.
    A clock time a DST change skips is the instant it maps to (``fold=0``); one it repeats, the
    first of the two."""
    by_day: dict[int, list[time]] = {}
    for slot in slots:
        by_day.setdefault(slot.weekday, []).append(slot.time)
    for times in by_day.values():
        times.sort()
    day: date = start.astimezone(zone).date()
    last: date = end.astimezone(zone).date()
    while day <= last:
        seen = set()
        for clock in by_day.get(day.weekday(), ()):
            moment = datetime.combine(day, clock, tzinfo=zone)
            # A skipped clock time normalises to a real instant; two slots may land on one.
            moment = moment.astimezone(zoneinfo.ZoneInfo("UTC")).astimezone(zone)
            if start <= moment < end and moment not in seen:
                seen.add(moment)
                yield moment
        day += timedelta(days=1)


def taken(workspace: Workspace, moments: Iterable[datetime]) -> set[datetime]:
    """Which of ``moments`` a post of ``workspace`` is due at (one query)."""
    moments = list(moments)
    if not moments:
        return set()
    return set(
        Post.objects.filter(workspace=workspace, due_at__in=moments)
        .exclude(state__in=NOT_DUE)
        .values_list("due_at", flat=True)
    )


def next_free_slot(workspace: Workspace, now: datetime | None = None) -> datetime | None:
    """The first free occurrence at least QUEUE_LEAD from ``now`` within
    POST_SCHEDULE_MAX_DAYS, or None (no slots, or every one taken). One query for the slots and
    one per WEEKS_PER_LOOK weeks looked at (one, unless the next weeks are full). Only a
    forecast outside the lock: ``queue_time`` decides."""
    now = now or timezone.now()
    slots = list(PostingSlot.objects.filter(workspace=workspace))
    if not slots:
        return None
    zone = zone_of(workspace)
    start = now + QUEUE_LEAD
    horizon = now + timedelta(days=settings.POST_SCHEDULE_MAX_DAYS)
    while start < horizon:
        end = min(start + timedelta(weeks=WEEKS_PER_LOOK), horizon)
        moments = list(occurrences(slots, zone, start, end))
        busy = taken(workspace, moments)
        for moment in moments:
            if moment not in busy:
                return moment
        start = end
    return None


def lock_workspace(workspace: Workspace) -> None:
    """The workspace's row lock that orders every choice of a slot (the same lock
    ``limits.storage_check`` takes). Inside the transaction that acts."""
    Workspace.objects.select_for_update().filter(pk=workspace.pk).values_list("pk").first()


def queue_time(workspace: Workspace) -> datetime:
    """The time "Add to queue" schedules at: call it under ``lock_workspace`` in the transaction
    that makes the post. Raises ``PostActionError`` when there is no slot, or none free."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("queue_time must run under the workspace lock, in a transaction")
    moment = next_free_slot(workspace)
    if moment is not None:
        return moment
    if not PostingSlot.objects.filter(workspace=workspace).exists():
        raise PostActionError(no_slots_sentence())
    raise PostActionError(
        ngettext(
            "Every posting slot in the next %(days)d day is taken. Add a slot, or schedule "
            "the post at a time of its own.",
            "Every posting slot in the next %(days)d days is taken. Add a slot, or schedule "
            "the post at a time of its own.",
            settings.POST_SCHEDULE_MAX_DAYS,
        )
        % {"days": settings.POST_SCHEDULE_MAX_DAYS}
    )


def no_slots_sentence() -> str:
    return _(
        "This workspace has no posting slots yet, so there is nothing to add to. Set them on "
        "the Posting slots page, or schedule the post at a time of its own."
    )


# --- slots -----------------------------------------------------------------------------------


def slots_add(
    *,
    workspace: Workspace,
    actor: User,
    weekdays: Sequence[int],
    at: time,
    request: HttpRequest | None = None,
) -> list[PostingSlot]:
    """Add a slot at ``at`` on each of ``weekdays`` (owners and editors). Ones already there are
    kept as they are. Returns the slots made. Raises ``PostActionError`` past SLOTS_MAX."""
    at = at.replace(second=0, microsecond=0)
    days = sorted({int(d) for d in weekdays if 0 <= int(d) <= 6})
    if not days:
        raise PostActionError(_("Choose at least one weekday."))
    with transaction.atomic():
        lock_writer(workspace=workspace, actor=actor)
        lock_workspace(workspace)
        have = set(PostingSlot.objects.filter(workspace=workspace).values_list("weekday", "time"))
        new = [d for d in days if (d, at) not in have]
        if len(have) + len(new) > SLOTS_MAX:
            raise PostActionError(
                _(
                    "A workspace has at most %(max)d posting slots; this one has %(count)d. "
                    "Remove some first."
                )
                % {"max": SLOTS_MAX, "count": len(have)}
            )
        try:
            made = PostingSlot.objects.bulk_create(
                [PostingSlot(workspace=workspace, weekday=d, time=at) for d in new]
            )
        except IntegrityError:  # cannot happen under the lock; said plainly if it does
            raise PostActionError(_("That slot was just added. Reload the page.")) from None
        if made:
            audit_record(
                workspace=workspace,
                actor=actor,
                action=AuditEvent.Action.SLOTS_ADDED,
                target=at.strftime("%H:%M"),
                details={"weekdays": new, "time": at.strftime("%H:%M")},
                request=request,
            )
    return made


def slot_remove(
    *, workspace: Workspace, actor: User, code, request: HttpRequest | None = None
) -> None:
    """Remove one slot (owners and editors). Posts already scheduled at it stay."""
    with transaction.atomic():
        lock_writer(workspace=workspace, actor=actor)
        slot = (
            PostingSlot.objects.select_for_update().filter(workspace=workspace, code=code).first()
        )
        if slot is None:
            raise PostActionError(_("That slot was removed already."))
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditEvent.Action.SLOT_REMOVED,
            target=slot.time.strftime("%H:%M"),
            details={"weekday": slot.weekday, "time": slot.time.strftime("%H:%M")},
            request=request,
        )
        slot.delete()
