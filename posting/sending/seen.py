"""Failures a member has seen: the overview lists a FAILED result until then.

The post page does not write when it is read: once shown in a browser it posts back that its
failures were seen (``post_seen``), so a prefetch, a link preview or a crawler's GET marks
nothing. Staff looking in do not count: they are not the ones who must act.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from accounts.access import WorkspaceAccess
from posting.models import Post, PostResult


def failures_mark_seen(*, post: Post, access: WorkspaceAccess) -> int:
    """Mark ``post``'s FAILED results seen by ``access``'s member (none for staff looking in);
    returns how many were marked. A result that fails again is unseen again (the sync clears
    ``seen_at``)."""
    if not _counts_as_seen(access):
        return 0
    return PostResult.objects.filter(
        post=post, status=PostResult.Status.FAILED, seen_at__isnull=True
    ).update(seen_at=timezone.now())


def has_unseen_failures(results: Iterable[PostResult], access: WorkspaceAccess) -> bool:
    """Whether showing ``results`` to ``access``'s user sees failures nobody has seen yet (the
    page then posts back that they were seen)."""
    return _counts_as_seen(access) and any(
        r.status == PostResult.Status.FAILED and not r.seen_at for r in results
    )


def _counts_as_seen(access: WorkspaceAccess) -> bool:
    """A member's look counts; staff looking in without a membership do not."""
    return access.membership is not None
