"""What the review pages read: a link's drafts with their networks and captions, a draft's
links and comments. Each a fixed number of queries, whatever the number of rows."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field

from django.db.models import Prefetch

from accounts.models import Membership, User
from posting.models import Comment, Draft, Platform, ReviewLink
from posting.sending import slots


@dataclass
class ReviewItem:
    draft: Draft
    #: (network, caption) for each chosen account's network, in a stable order.
    captions: list[tuple[str, str]]
    networks: list[str]
    comments: list[Comment] = field(default_factory=list)
    #: Whether the reviewer may decide now (it waits at the client stage).
    decidable: bool = False


def _captions(draft: Draft) -> tuple[list[str], list[tuple[str, str]]]:
    networks = sorted({p.network for p in draft.target_platforms.all()})
    captions = [(n, (draft.captions or {}).get(n) or draft.description) for n in networks]
    return networks, captions


def link_items(link: ReviewLink) -> list[ReviewItem]:
    """The drafts a link is for (not yet sent), with their client-visible comments: 3 queries."""
    drafts = (
        link.drafts.filter(sent_at__isnull=True)
        .order_by("scheduled_at", "pk")
        .prefetch_related(
            Prefetch("target_platforms", queryset=Platform.objects.only("pk", "network")),
            Prefetch(
                "comments",
                queryset=Comment.objects.filter(internal=False).select_related("author"),
                to_attr="visible_comments",
            ),
        )
    )
    items = []
    for draft in drafts:
        networks, captions = _captions(draft)
        items.append(ReviewItem(draft, captions, networks, draft.visible_comments))
    return items


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
    """Other drafts of the workspace waiting in review, that a link for ``draft`` may include."""
    return list(
        Draft.objects.filter(workspace_id=draft.workspace_id, sent_at__isnull=True)
        .exclude(pk=draft.pk)
        .exclude(review_state="")
        .order_by("scheduled_at", "pk")
        .only("pk", "code", "description", "scheduled_at")[:19]
    )
