"""What the review pages read: a workspace's queue and a person's queue across workspaces,
each in a fixed number of queries whatever the number of posts."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import QuerySet

from accounts.access import two_factor_locked
from accounts.models import Membership, User, Workspace
from posting.models import Draft, ReviewState
from posting.models.drafts import waiting_count, waiting_for, with_version_author

# The rule of who decides lives beside Draft.may_decide; the review pages read it from here.
__all__ = [
    "everywhere_queue",
    "waiting_count",
    "waiting_for",
    "with_version_author",
    "workspace_queue",
]

#: The states a review queue lists: waiting for a reviewer, for its author, or held.
QUEUE_STATES = (ReviewState.IN_REVIEW, ReviewState.CHANGES_REQUESTED, ReviewState.HELD)


def _queue(drafts: QuerySet[Draft]) -> QuerySet[Draft]:
    return (
        with_version_author(drafts)
        .filter(sent_at__isnull=True, review_state__in=QUEUE_STATES)
        .select_related("author", "decided_by", "workspace")
        .prefetch_related("target_platforms")
        .order_by("submitted_at", "id")
    )


def workspace_queue(workspace: Workspace, number, *, per_page: int):
    """Page ``number`` of the workspace's posts in review, the longest waiting first: three
    queries (the count, the drafts with their people, their accounts)."""
    return Paginator(_queue(Draft.objects.filter(workspace=workspace)), per_page).get_page(number)


def everywhere_queue(user: User, memberships: list[Membership], number, *, per_page: int):
    """Page ``number`` of the posts waiting for ``user``'s decision in all their workspaces,
    leaving out the ones they may not open until they set up two-factor sign-in: three
    queries."""
    where = waiting_for(user, memberships)
    drafts = (
        Draft.objects.none() if where is None else with_version_author(Draft.objects).filter(where)
    )
    drafts = drafts.exclude(two_factor_locked(user, workspace="workspace"))
    return Paginator(_queue(drafts), per_page).get_page(number)
