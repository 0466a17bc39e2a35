"""Failures a member has seen: the overview lists a FAILED result until then.

The post page does not write when it is read: once shown in a browser it posts back that its
failures were seen (``post_seen``), so a prefetch, a link preview or a crawler's GET marks
nothing. Staff looking in do not count: they are not the ones who must act.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from accounts.access import RoleRequired, WorkspaceAccess, lock_member
from accounts.models import User
from posting.models import Post, PostResult

#: The most result ids one "seen" post-back names (a post has one result per platform).
MAX_SHOWN = 50


def failures_mark_seen(*, post: Post, actor: User, shown: Iterable[int]) -> int:
    """Mark the FAILED results of ``post`` that its page showed (``shown``: their ids) seen by
    ``actor``; returns how many were marked. Decided here, with the actor's membership locked:
    staff looking in, and a member removed since the page was shown, mark nothing. A failure
    that reached the mirror after the page was shown is not among ``shown`` and stays unseen;
    a result that fails again is unseen again (the sync clears ``seen_at``)."""
    ids = list(shown)[:MAX_SHOWN]
    if not ids:
        return 0
    with transaction.atomic():
        try:
            lock_member(workspace=post.workspace, actor=actor)
        except RoleRequired:
            return 0
        return PostResult.objects.filter(
            post=post, pk__in=ids, status=PostResult.Status.FAILED, seen_at__isnull=True
        ).update(seen_at=timezone.now())


def unseen_failures(results: Iterable[PostResult], access: WorkspaceAccess) -> list[int]:
    """The ids of the FAILED results among ``results`` that nobody has seen, when showing them
    to ``access``'s user counts (the page then posts back that it showed them)."""
    if not _counts_as_seen(access):
        return []
    return [r.pk for r in results if r.status == PostResult.Status.FAILED and not r.seen_at]


def _counts_as_seen(access: WorkspaceAccess) -> bool:
    """A member's look counts; staff looking in without a membership do not."""
    return access.membership is not None
