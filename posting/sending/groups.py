"""One post, one caption per network when needed: the plan of Taisly posts it becomes, what
sending it costs, and its rows.

Taisly takes one description per post, so a post whose networks have different captions is sent
as one Taisly post per distinct caption. Each is a ``Post`` row of its own, forwarded, reconciled,
retried and cancelled exactly like any post (the send path does not change); the first is the
group's *lead* and the others point at it (``Post.group``). Pages show a group as its lead with
every member's platforms, and a member's own page leads to its lead's.

    platforms + caption for all + captions per network ──caption_plan──> [CaptionGroup, ...]
        one CaptionGroup per distinct caption, in the order of the platforms
    group_create(plan) ──> lead Post + member Posts (QUEUED, one video file shared)
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from accounts.models import User, Workspace
from posting.models import Platform, Post


@dataclass(frozen=True)
class CaptionGroup:
    """The platforms that get one caption: one Taisly post."""

    caption: str
    platforms: tuple[Platform, ...]


@dataclass(frozen=True)
class Cost:
    """What sending a plan costs: uploads of the video, and Taisly requests in all."""

    uploads: int
    requests: int


def caption_for(platform: Platform, description: str, captions: Mapping[str, str]) -> str:
    """The caption ``platform`` gets: its network's own one when it has one, else the one for
    all."""
    own = captions.get(platform.network)
    return own if own else description


def caption_plan(
    platforms: Sequence[Platform], description: str, captions: Mapping[str, str] | None = None
) -> list[CaptionGroup]:
    """One group per distinct caption, in the order of ``platforms``."""
    captions = captions or {}
    grouped: dict[str, list[Platform]] = {}
    for platform in platforms:
        grouped.setdefault(caption_for(platform, description, captions), []).append(platform)
    return [CaptionGroup(caption, tuple(chosen)) for caption, chosen in grouped.items()]


def send_cost(plan: Sequence[CaptionGroup]) -> Cost:
    """One upload of the video and one request per Taisly post."""
    return Cost(uploads=len(plan), requests=len(plan))


def edit_cost(rows: int, plan: Sequence[CaptionGroup]) -> Cost:
    """An edit cancels each Taisly post of the group (one request each) and makes the plan's
    posts again (one upload and one request each)."""
    return Cost(uploads=len(plan), requests=rows + len(plan))


def group_rows(post: Post) -> list[Post]:
    """Every row of ``post``'s group, the lead first (a post without a group: itself)."""
    lead_id = post.group_id or post.pk
    return list(Post.objects.filter(pk=lead_id).select_related("workspace")) + list(
        Post.objects.filter(group_id=lead_id).select_related("workspace").order_by("id")
    )


def group_create(
    *,
    workspace: Workspace,
    actor: User,
    plan: Sequence[CaptionGroup],
    video: dict,
    cover_second: float,
    scheduled_at: datetime | None,
    token: uuid.UUID | None,
    state: str = Post.State.QUEUED,
    from_queue: bool = False,
) -> list[Post]:
    """Make the rows of ``plan`` (inside the caller's transaction, which has checked who may and
    what fits): the lead takes ``token``, each member a token of its own and the lead's video
    file (``video``: the ``Post`` video fields). Returns the rows, the lead first."""
    rows: list[Post] = []
    for part in plan:
        row = Post.objects.create(
            workspace=workspace,
            author=actor,
            description=part.caption,
            cover_second=cover_second,
            scheduled_at=scheduled_at,
            due_at=scheduled_at,
            state=state,
            idempotency_token=token if not rows else uuid.uuid4(),
            group=rows[0] if rows else None,
            from_queue=from_queue,
            **video,
        )
        row.target_platforms.set(part.platforms)
        rows.append(row)
    return rows


def video_fields(source) -> dict:
    """The video fields of a ``Post`` or ``Draft``, to give to another row (the same file)."""
    return {
        "video": source.video.name,
        "video_name": source.video_name,
        "video_size": source.video_size,
        "video_duration": source.video_duration,
        "video_width": source.video_width,
        "video_height": source.video_height,
    }
