"""Who hears of a draft's review (issue 18): its watchers, and the reviewers of the stage it
waits at.

    watchers (``Draft.watchers``, rows of ``DraftWatch``): members who hear of decisions and
        comments. Added on their own (``watch_add``) when they are its author, submit it,
        decide on it, comment on it or are mentioned in a comment; a member adds or removes
        themselves with the draft page's "Watch" / "Stop watching" (``watch_set``). One who
        stopped is not added again on their own: only their own "Watch" undoes it.
    told of a decision or comment (``watchers_to_tell``): the watchers who are members now,
        never the person who acted; of an internal comment, only the team (owners and
        editors): a viewer is the client's side and does not read them. The author is told of
        what asks them to act (changes requested, held, returned) even when not watching.
    told that a post waits for review (``reviewers_of``): who may decide at its stage (owners
        and editors at the internal stage, members with the reviewer right at the client
        stage), never its author nor whoever wrote the version under review.

A review link's holder is no member: never a watcher (the link's address gets only the
emails the review links send themselves).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.dispatch import Signal
from django.utils.translation import gettext as _

from accounts.access import RoleRequired, lock_member
from accounts.models import Membership, User
from posting.alerts.reviews import Told, review_event
from posting.models import Alert, Draft, DraftVersion, DraftWatch, Post, ReviewStage

#: Decisions that ask the author to act: told to them even when they stopped watching.
#: Sent with ``draft_id`` when a post reaches the client's stage (inside the transaction):
#: the review links, which depend on the approvals, email their holders (``posting.apps``).
client_stage_reached = Signal()

AUTHOR_MUST_HEAR = (Alert.Kind.CHANGES_REQUESTED, Alert.Kind.HELD, Alert.Kind.RETURNED)


class WatchError(Exception):
    """Watching did not change; ``message`` is a translated sentence saying why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAWatcher(RoleRequired):
    """``actor`` may not watch this draft (no member of its workspace, now, under lock)."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message
        self.args = (message,)


def may_see(membership: Membership | None, draft: Draft) -> bool:
    """Whether this member may see the draft: every member of its workspace sees its drafts
    (viewers read only), and no one else (staff looking in are no members)."""
    return membership is not None and membership.workspace_id == draft.workspace_id


def watch_add(draft: Draft, user_ids: Iterable[int | None]) -> None:
    """Make these people watchers of ``draft`` on their own, inside the acting transaction:
    members only, and never one who stopped watching. Two queries whatever their number."""
    ids = [pk for pk in dict.fromkeys(user_ids) if pk is not None]
    if not ids:
        return
    members = Membership.objects.filter(workspace_id=draft.workspace_id, user_id__in=ids)
    DraftWatch.objects.bulk_create(
        [
            DraftWatch(draft_id=draft.pk, user_id=pk)
            for pk in members.values_list("user_id", flat=True)
        ],
        ignore_conflicts=True,
    )


def watch_set(*, draft: Draft, actor: User, watching: bool) -> bool:
    """The actor's own "Watch" (``watching``) or "Stop watching" of ``draft``: any member who
    may see it, decided here on locked rows. Raises ``NotAWatcher`` (a 403) for anyone else,
    ``WatchError`` when the draft was sent or deleted meanwhile. Returns ``watching``."""
    with transaction.atomic():
        try:
            membership = lock_member(workspace=draft.workspace, actor=actor)
        except RoleRequired:
            raise NotAWatcher(_("Only members of this workspace may watch its drafts.")) from None
        locked = (
            Draft.objects.select_for_update()
            .filter(pk=draft.pk, workspace_id=draft.workspace_id, sent_at__isnull=True)
            .first()
        )
        if locked is None:
            raise WatchError(_("This draft was sent or deleted meanwhile."))
        if not may_see(membership, locked):
            raise NotAWatcher(_("You may not see this draft."))
        DraftWatch.objects.update_or_create(
            draft=locked, user=actor, defaults={"watching": watching}
        )
    return watching


def is_watching(draft: Draft, user: User) -> bool:
    """Whether ``user`` hears of the draft's review now (one query, for the draft page)."""
    return DraftWatch.objects.filter(draft=draft, user_id=user.pk, watching=True).exists()


def watchers_to_tell(
    draft: Draft, kind: str, *, actor_id: int | None, team_only: bool = False
) -> list[int]:
    """The people told of a decision or comment ``kind`` on ``draft``: its watchers who are
    members now (owners and editors alone when ``team_only``), and its author for what asks
    them to act; never ``actor_id``. One query."""
    members = Membership.objects.filter(workspace_id=draft.workspace_id)
    if team_only:
        members = members.filter(role__in=(Membership.Role.OWNER, Membership.Role.EDITOR))
    member_ids = members.values("user_id")
    watching = DraftWatch.objects.filter(
        draft_id=draft.pk, watching=True, user_id__in=member_ids
    ).order_by("created_at", "id")
    people = list(watching.values_list("user_id", flat=True))
    author = draft.author_id
    must_hear = kind in AUTHOR_MUST_HEAR and author and author not in people
    if must_hear and members.filter(user_id=author).exists():
        people.insert(0, author)
    return [pk for pk in people if pk != actor_id]


def reviewers_of(draft: Draft, *, actor_id: int | None) -> list[int]:
    """Who may decide on ``draft`` at the stage it waits at now (the rule of
    ``Draft.may_decide`` and the four eyes of ``services``): never its author, whoever wrote
    the version under review, nor ``actor_id``. Two queries."""
    members = Membership.objects.filter(workspace_id=draft.workspace_id)
    if draft.review_stage == ReviewStage.INTERNAL:
        members = members.filter(role__in=(Membership.Role.OWNER, Membership.Role.EDITOR))
    elif draft.review_stage == ReviewStage.CLIENT:
        members = members.filter(can_approve=True)
    else:
        return []
    last = DraftVersion.objects.filter(draft=draft).order_by("-number").first()
    left_out = {draft.author_id, last and last.author_id, actor_id}
    return [
        pk
        for pk in members.order_by("user_id").values_list("user_id", flat=True)
        if pk not in left_out
    ]


def tell_watchers(
    draft: Draft,
    kind: str,
    message: str,
    *,
    actor_id: int | None,
    post: Post | None = None,
    leave_out: Iterable[int] = (),
    told: Told | None = None,
) -> Told:
    """A decision told to the draft's watchers (but the actor and ``leave_out``), in the app
    and by email, and once to the workspace's webhooks."""
    left = set(leave_out)
    people = [pk for pk in watchers_to_tell(draft, kind, actor_id=actor_id) if pk not in left]
    return review_event(
        draft=draft, kind=kind, message=message, recipients=people, post=post, told=told
    )


def request_review(
    draft: Draft,
    *,
    actor_id: int | None,
    reviewers: list[int] | None = None,
    told: Told | None = None,
) -> Told:
    """Tell the reviewers of the stage ``draft`` waits at (``reviewers``, found when not
    given) that it waits for them: one alert each ("Waiting for your review"), emailed by their
    preference, and ``post.review_requested`` once to the workspace's webhooks. Inside the
    acting transaction."""
    if reviewers is None:
        reviewers = reviewers_of(draft, actor_id=actor_id)
    if draft.review_stage == ReviewStage.CLIENT:
        client_stage_reached.send(sender=Draft, draft_id=draft.pk)
    return review_event(
        draft=draft,
        kind=Alert.Kind.REVIEW_REQUESTED,
        message=draft.description[:300],
        recipients=reviewers,
        told=told,
    )


def submitted(draft: Draft, *, actor_id: int | None) -> Told:
    """``draft`` was (re)submitted by ``actor_id``, in its acting transaction: its author and
    the submitter watch it, and its first stage's reviewers are told it waits for them."""
    watch_add(draft, [draft.author_id, actor_id])
    return request_review(draft, actor_id=actor_id)
