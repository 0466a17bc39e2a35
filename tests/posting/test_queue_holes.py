"""Holes found in review of posting slots and the queue: a slot an edit in flight is moving a
post to (a calendar move, or one half of a queue swap) is taken from the moment the edit is
asked for, not only once the uploads worker applies it; otherwise "Add to queue" in between
puts a second post at that slot."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone

from posting.models import Post, PostingSlot
from posting.planning.slots import slot_times_between
from posting.sending import slots

pytestmark = pytest.mark.django_db


def _every_day_at(workspace, *clocks) -> None:
    for day in range(7):
        for clock in clocks:
            PostingSlot.objects.create(workspace=workspace, weekday=day, time=clock)


@pytest.mark.parametrize("state", [Post.State.EDITING, Post.State.REPLACING])
def test_a_slot_an_edit_in_flight_moves_a_post_to_is_taken(workspace, state):
    _every_day_at(workspace, time(9, 0), time(17, 30))
    first = slots.next_free_slot(workspace)
    Post.objects.create(workspace=workspace, state=Post.State.SENT, due_at=first)
    second = slots.next_free_slot(workspace)
    assert second > first
    # A post elsewhere (say an hour after the first slot) is being edited to the second slot:
    # until the worker applies the edit it is still due at its old time.
    Post.objects.create(
        workspace=workspace,
        state=state,
        due_at=first + timedelta(hours=1),
        scheduled_at=first + timedelta(hours=1),
        edit_pending={"scheduled_at": second.isoformat(), "cover_second": 0, "groups": []},
    )

    chosen = slots.next_free_slot(workspace)

    assert chosen not in (first, second) and chosen > second
    shown = dict(slot_times_between(workspace, timezone.now(), second + timedelta(minutes=1)))
    assert shown[second] is True


def test_an_edit_that_was_settled_frees_nothing_it_does_not_hold(workspace):
    _every_day_at(workspace, time(9, 0))
    first = slots.next_free_slot(workspace)
    # A SENT post with an old, cleared edit: only its own time counts.
    Post.objects.create(
        workspace=workspace,
        state=Post.State.SENT,
        due_at=first - timedelta(hours=1),
        edit_pending={},
    )
    assert slots.next_free_slot(workspace) == first
