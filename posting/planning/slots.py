"""Posting slots for a calendar: each weekly slot's occurrences in a range, and whether each is
taken, for the calendar to draw (free ones as places "Add to queue" will fill)."""

from __future__ import annotations

from datetime import datetime

from accounts.models import Workspace
from posting.models import PostingSlot
from posting.sending import slots


def slot_times_between(workspace: Workspace, start: datetime, end: datetime) -> list[tuple]:
    """``[(moment, taken), ...]`` for every occurrence of ``workspace``'s weekly slots in
    [start, end), in time order. ``moment`` is an aware datetime in the workspace's time zone
    (``Workspace.time_zone``; convert it to the viewer's for display); ``taken`` is True when a
    post of the workspace that is not cancelled is due at exactly that instant (the rule "Add
    to queue" follows, ``posting.sending.slots``). Two queries: the slots, then the posts at
    those instants (one, the slots, when the workspace has none). ``start`` and ``end`` must
    be aware; keep the range to a calendar's page (a month is at most 31 × 50 instants)."""
    found = list(PostingSlot.objects.filter(workspace=workspace))
    if not found:
        return []
    moments = list(slots.occurrences(found, slots.zone_of(workspace), start, end))
    busy = slots.taken(workspace, moments)
    return [(moment, moment in busy) for moment in moments]
