"""What the review pages read: a link's drafts with their networks and captions, a draft's
links and comments. Each a fixed number of queries, whatever the number of rows."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field

from django.db.models import Prefetch

from accounts.models import Membership, User
from posting.models import Comment, Draft, Platform, ReviewLink, ReviewStage, ReviewState
from posting.reviewlinks import links
from posting.sending import slots


@dataclass
class ReviewItem:
    #: None for a draft deleted since its holder decided on it (known from ``link.decisions``).
    draft: Draft | None
    #: (network, caption) for each chosen account's network, in a stable order.
    captions: list[tuple[str, str]]
    networks: list[str]
    comments: list[Comment] = field(default_factory=list)
    #: Whether the reviewer may decide now (it waits at the client stage).
    decidable: bool = False
    #: ``links.Status``: waiting, changing or finished.
    status: str = links.Status.FINISHED
    #: The holder's own last decision on it ({"decision", "at"}), if any.
    decision: dict | None = None
    #: What the page says of it instead of its content (changing and finished).
    sentences: list[str] = field(default_factory=list)
    #: The active repost rules that post it elsewhere too (``posting.mirror.selectors``).
    reposts: list[dict] = field(default_factory=list)


def link_items(link: ReviewLink) -> list[ReviewItem]:
    """The drafts a link is for, with their client-visible comments and where each is for the
    holder (``links.Status``), then those deleted since the holder decided on them: 3
    queries."""
    drafts = link.drafts.order_by("scheduled_at", "pk").prefetch_related(
        Prefetch("target_platforms", queryset=Platform.objects.only("pk", "network", "taisly_id")),
        Prefetch(
            "comments",
            queryset=Comment.objects.filter(internal=False).select_related("author"),
            to_attr="visible_comments",
        ),
    )
    items = []
    decided = dict(link.decisions or {})
    for draft in drafts:
        networks, captions = draft.network_captions()
        item = ReviewItem(draft, captions, networks, draft.visible_comments)
        item.status = links.draft_status(draft)
        item.decidable = item.status == links.Status.WAITING
        item.decision = decided.pop(str(draft.code), None)
        if item.status != links.Status.WAITING:
            # Nothing of a post the holder is not deciding on now.
            item.captions, item.networks = [], []
        if item.status == links.Status.FINISHED:
            item.comments = []
        items.append(item)
    for decision in decided.values():
        items.append(ReviewItem(None, [], [], decision=decision))
    return items


def link_finished(items: list[ReviewItem]) -> bool:
    """The link's review is over: none of its drafts waits for the holder or for the team's
    changes (a link whose drafts are all gone is over too)."""
    return all(item.status == links.Status.FINISHED for item in items)


def link_time_zone(link: ReviewLink) -> zoneinfo.ZoneInfo:
    """The workspace's own time zone (``Workspace.time_zone``, the one its posting slots are
    in), so the client reads the time as the team plans it; the settings' zone if it is
    unreadable."""
    return slots.zone_of(link.workspace)


def draft_links(draft: Draft) -> list[ReviewLink]:
    return list(draft.review_links.select_related("created_by").order_by("-created_at")[:50])


def draft_comments(draft: Draft, *, internal: bool) -> list[Comment]:
    """The draft's comments, the team's internal ones only when ``internal`` (owners and
    editors; a viewer is the client's side and reads what a review link's holder reads)."""
    found = draft.comments.all() if internal else draft.comments.filter(internal=False)
    return list(
        found.select_related("author").prefetch_related(
            Prefetch("mentions", queryset=User.objects.only("pk", "display_name", "email"))
        )
    )


def mentionable_members(workspace) -> list[User]:
    return [
        m.user
        for m in Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by("user__email")
    ]


def batchable_drafts(draft: Draft) -> list[Draft]:
    """Other drafts of the workspace waiting for the client's review, that a link for
    ``draft`` may include (the only ones ``links.review_link_create`` accepts)."""
    return list(
        Draft.objects.filter(
            workspace_id=draft.workspace_id,
            sent_at__isnull=True,
            review_state=ReviewState.IN_REVIEW,
            review_stage=ReviewStage.CLIENT,
        )
        .exclude(pk=draft.pk)
        .order_by("scheduled_at", "pk")
        .only("pk", "code", "description", "scheduled_at")[:19]
    )
