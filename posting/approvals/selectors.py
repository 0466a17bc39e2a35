"""What the review pages read: a workspace's queue and a person's queue across workspaces,
each in a fixed number of queries whatever the number of posts."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import OuterRef, Q, QuerySet, Subquery

from accounts.access import two_factor_locked
from accounts.models import Membership, User, Workspace
from posting.models import Draft, DraftVersion, ReviewStage, ReviewState

#: The states a review queue lists: waiting for a reviewer, for its author, or held.
QUEUE_STATES = (ReviewState.IN_REVIEW, ReviewState.CHANGES_REQUESTED, ReviewState.HELD)


def with_version_author(drafts: QuerySet[Draft]) -> QuerySet[Draft]:
    """``last_version_author_id`` on each draft, in the same query: who wrote the version under
    review, whom ``Draft.may_decide`` refuses as the service does (four eyes)."""
    last = DraftVersion.objects.filter(draft=OuterRef("pk")).order_by("-number")
    return drafts.annotate(last_version_author_id=Subquery(last.values("author_id")[:1]))


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


def waiting_for(user: User, memberships: list[Membership]) -> Q | None:
    """The drafts ``user`` may decide on now, across ``memberships`` (None: none): the
    internal stage where they write, the client stage where they have the reviewer right, never
    their own posts nor a version they wrote (the same rule as ``Draft.may_decide``; the
    drafts need ``with_version_author``)."""
    internal = [m.workspace_id for m in memberships if m.can_write]
    client = [m.workspace_id for m in memberships if m.can_approve]
    if not internal and not client:
        return None
    where = Q(workspace_id__in=internal, review_stage=ReviewStage.INTERNAL) | Q(
        workspace_id__in=client, review_stage=ReviewStage.CLIENT
    )
    wrote_version = Q(last_version_author_id=user.pk) & Q(last_version_author_id__isnull=False)
    return where & Q(review_state=ReviewState.IN_REVIEW) & ~Q(author_id=user.pk) & ~wrote_version


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
