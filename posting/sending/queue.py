"""The queue: the upcoming posts made by "Add to queue" (``Post.from_queue``), in time order,
each group shown as its lead. A post keeps its place when its slot is removed later; a post
scheduled by hand at a slot's time takes the slot (it is not offered to the queue) but is not
listed: it was not queued.

Reordering swaps two neighbours' times (``queue_swap``): a post not yet at Taisly (QUEUED) just
changes its time; one scheduled at Taisly (SENT) is edited (``edits.post_edit``: cancelled
and made again, its cost said on the page before the click). Removing one is cancelling it
(``cancel.post_cancel``, its own confirm page).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.access import lock_writer
from accounts.audit import audit_record
from accounts.models import AuditEvent, User, Workspace
from posting.models import Post
from posting.sending import edits, groups
from posting.sending.errors import PostActionError
from posting.sending.slots import QUEUE_LEAD, lock_workspace

#: The queue lists posts in these states (on their way to Taisly, or scheduled there).
UPCOMING = (
    Post.State.QUEUED,
    Post.State.SENDING,
    Post.State.SENT,
    Post.State.EDITING,
    Post.State.REPLACING,
)


def upcoming_queue(workspace: Workspace, now: datetime | None = None):
    """The queue: posts made by "Add to queue" still to go out, each group as its lead, in time
    order."""
    return Post.objects.filter(
        workspace=workspace,
        from_queue=True,
        group__isnull=True,
        state__in=UPCOMING,
        due_at__gt=now or timezone.now(),
    ).order_by("due_at", "id")


def at_taisly(post: Post) -> bool:
    """Scheduled at Taisly already (a swap edits it), rather than still with the dashboard."""
    return post.state == Post.State.SENT


def swap_cost(first: Post, second: Post, rows: dict[int, int]) -> int:
    """Taisly requests a swap costs: an edit of each post already at Taisly (each of its Taisly
    posts cancelled and made again), nothing for one still with the dashboard. ``rows``: the
    number of Taisly posts of each lead."""
    return sum(
        groups.edit_cost(rows.get(p.pk, 1), [None] * rows.get(p.pk, 1)).requests
        for p in (first, second)
        if at_taisly(p)
    )


def queue_swap(*, workspace: Workspace, actor: User, post: Post, other: Post, request=None) -> None:
    """Swap the times of two queued posts (move one up or down). Each still with the dashboard
    (QUEUED, not yet claimed by the uploads worker) just takes the other's time; each scheduled
    at Taisly is edited to it (``edits.post_edit``, in this same transaction). Anything else
    (sending right now, being edited) is refused with a sentence: nothing changes."""
    with transaction.atomic():
        lock_writer(workspace=workspace, actor=actor)
        lock_workspace(workspace)
        ids = sorted({post.pk, other.pk})
        locked = {
            p.pk: p
            for p in Post.objects.select_for_update().filter(
                pk__in=ids, workspace=workspace, group__isnull=True, from_queue=True
            )
        }
        if len(locked) != 2:
            raise PostActionError(_("That post is no longer in the queue. Reload the page."))
        first, second = locked[post.pk], locked[other.pk]
        now = timezone.now()
        for one in (first, second):
            if one.due_at is None or one.due_at <= now + QUEUE_LEAD:
                raise PostActionError(
                    _("One of these posts is about to go out, so their order cannot change now.")
                )
            if one.state not in (Post.State.QUEUED, Post.State.SENT):
                raise PostActionError(
                    _(
                        "One of these posts is being sent or edited right now. Wait until the "
                        "queue shows it as scheduled, then move it."
                    )
                )
        times = {first.pk: second.due_at, second.pk: first.due_at}
        for one in (first, second):
            _move(one, times[one.pk], actor=actor, request=request)
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditEvent.Action.QUEUE_REORDERED,
            target=str(first.code),
            details={
                "swapped_with": str(second.code),
                "from": first.due_at.isoformat(),
                "to": second.due_at.isoformat(),
            },
            request=request,
        )


def _move(post: Post, when: datetime, *, actor: User, request) -> None:
    if post.state == Post.State.QUEUED:
        # The uploads worker claims a QUEUED row with a conditional update and reads its time
        # after; under these row locks, a claim waits for the swap and then sends the new time.
        members = list(Post.objects.select_for_update().filter(group_id=post.pk))
        if any(m.state != Post.State.QUEUED for m in members):
            raise PostActionError(
                _(
                    "One of these posts is being sent right now. Wait until the queue shows it "
                    "as scheduled, then move it."
                )
            )
        Post.objects.filter(pk__in=[post.pk, *(m.pk for m in members)]).update(
            scheduled_at=when, due_at=when
        )
        return
    rows = groups.group_rows(post)
    targets = {row.pk: list(row.target_platforms.all()) for row in rows}
    platforms, description, captions = edits.current_captions(rows, targets)
    edits.post_edit(
        post=post,
        actor=actor,
        change=edits.PostChange(
            platforms=platforms,
            description=description,
            captions=captions,
            cover_second=post.cover_second,
            scheduled_at=when,
        ),
        request=request,
    )


#: The queue page shows this many posts (the next ones); the rest follow as the first go out.
QUEUE_PAGE = 50


def queue_rows(workspace: Workspace, *, limit: int = QUEUE_PAGE) -> tuple[list[dict], bool]:
    """The next ``limit`` posts of the queue as rows for its page (the post, its networks, its
    number of Taisly posts, what moving it costs) and whether more follow. Four queries: the
    posts, their accounts, their groups' members, the members' accounts."""
    posts = list(
        upcoming_queue(workspace).prefetch_related(
            "target_platforms", "group_members__target_platforms"
        )[: limit + 1]
    )
    more = len(posts) > limit
    posts = posts[:limit]
    counts = {p.pk: 1 + len(p.group_members.all()) for p in posts}
    rows = []
    for index, post in enumerate(posts):
        networks = sorted(
            {pl.network for pl in post.target_platforms.all()}
            | {pl.network for m in post.group_members.all() for pl in m.target_platforms.all()}
        )
        above = posts[index - 1] if index else None
        below = posts[index + 1] if index + 1 < len(posts) else None
        rows.append(
            {
                "post": post,
                "networks": networks,
                "up": above,
                "down": below,
                "up_cost": swap_cost(post, above, counts) if above else 0,
                "down_cost": swap_cost(post, below, counts) if below else 0,
                "movable": post.state in (Post.State.QUEUED, Post.State.SENT),
            }
        )
    return rows, more
