"""Reading Taisly into the local mirror: connected platforms and post history.

    "Sync now" / background sync (issue 8) ──> history_sync(workspace)
        never synced, or a backfill under way:                              (page backfill)
            taisly_for(workspace).history(page=1, 2, …) ──> HistoryPost*, 10 a page, newest first
            until a page holds a post the mirror already has, there is no next page, or
            SYNC_BACKFILL_PAGES pages were read
        afterwards:
            window = [oldest post that can still change … now + ahead]  (one startTime/endTime)
            taisly_for(workspace).history_between(window) ──> HistoryPost*
        one transaction (history_store, both ways): new posts, new results, status changes,
        reposts, cancelled-elsewhere
        MirrorState.history_synced_at = when the (first) request left

    connect / "Sync now" on the accounts page ──> platforms_sync ──> platforms_store

What may and may not happen:
- A window sync is exactly one Taisly request (a STARTER key has 50 an hour). The window is
  bounded by settings: ``POSTING_SYNC_LOOKBACK_DAYS`` back for posts still in flight and
  ``POSTING_SYNC_AHEAD_DAYS`` ahead for scheduled posts.
- A new connection's first sync backfills page by page instead, one governed request a page
  (each counted in the ledger, background ones within the background share), at most
  ``SYNC_BACKFILL_PAGES`` pages in all. Should the governor (or a 429) refuse a page after the
  first, what was read is applied and MirrorState remembers where to go on
  (``backfill_page``, and ``backfill_before``: the due time of the oldest post read, so that
  posts pushed onto the next page by newer ones are not taken for known history); the next
  sync continues the backfill, and only the one after it ends uses the window. A refused first
  page is a failed sync like any other. A backfill never judges posts cancelled in Taisly: it
  does not read a closed window.
- Nothing is written while Taisly is being asked (no transaction held across a slow call), and a
  failed request writes nothing at all: the mirror stays as it was, the error says why.
- The diff is applied in one transaction under the workspace's MirrorState row lock, so two
  syncs at once (a double click and the background sync) apply one after the other.
- Platforms are never deleted: one missing from Taisly's list is marked gone (history keeps its
  name); a result naming a platform we never saw gets a gone placeholder.
- A post still being sent from here (SENDING / NEEDS_CHECK, no Taisly id yet) is not copied in
  as a second post: a history entry with the same description is left for the upload's own
  reconciliation, and the next sync after it picks up the id.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.access import lock_writer
from accounts.models import User, Workspace
from posting.alerts.rules import alerts_for_sync
from posting.models import MirrorState, Platform, Post, PostResult
from posting.taisly import HistoryPost, TaislyRateLimited
from posting.taisly import Platform as TaislyPlatform
from posting.taisly import PostResult as TaislyResult
from posting.taisly.gateway import taisly_for

logger = logging.getLogger(__name__)

#: Read a little before the last sync: Taisly's clock and ours may disagree by a few minutes.
SYNC_OVERLAP = timedelta(minutes=10)
#: A machine code in a FAILED result's message (``DESCRIPTION_TOO_LONG``), as opposed to a sentence.
#: Stored untranslated in Post.state_reason; pages translate it when they show it.
CANCELLED_AT_TAISLY = gettext_noop(
    "Taisly no longer has this scheduled post: it was cancelled in Taisly's own app."
)
_CODE = re.compile(r"[A-Z][A-Z0-9_]{1,99}")


@dataclass(frozen=True)
class PlatformsSummary:
    total: int
    new: int
    gone: int
    synced_at: datetime


@dataclass(frozen=True)
class HistorySummary:
    #: Posts found in Taisly's history that the mirror did not have.
    new_posts: int
    #: Results that appeared or whose status (or failure code) changed.
    changed_results: int
    #: Scheduled posts that disappeared from Taisly (cancelled in Taisly's own app).
    removed_posts: int
    #: Posts Taisly returned in the window.
    seen_posts: int
    start: datetime
    end: datetime
    synced_at: datetime


def mirror_state(workspace: Workspace) -> MirrorState:
    state, _created = MirrorState.objects.get_or_create(workspace=workspace)
    return state


def _locked_state(workspace: Workspace) -> MirrorState:
    mirror_state(workspace)
    return MirrorState.objects.select_for_update().get(workspace=workspace)


# --- Platforms -------------------------------------------------------------------------------


def platforms_store(
    *, workspace: Workspace, platforms: Iterable[TaislyPlatform], now: datetime | None = None
) -> PlatformsSummary:
    """Make the workspace's Platform rows match Taisly's list (``client.platforms()``).

    New ones are created, known ones updated (and un-gone if they had disappeared), rows missing
    from the list are marked gone, never deleted.
    """
    now = now or timezone.now()
    listed = {p.id: p for p in platforms}
    with transaction.atomic():
        state = _locked_state(workspace)
        known = {p.taisly_id: p for p in Platform.objects.filter(workspace=workspace)}
        new = 0
        for taisly_id, item in listed.items():
            row = known.get(taisly_id)
            fields = {
                "network": (item.network or "")[:32],
                "name": (item.name or "")[:200],
                "avatar_url": (item.avatar or "")[:500],
                "connected": item.connected,
                "gone_at": None,
                "last_seen_at": now,
            }
            if row is None:
                Platform.objects.create(
                    workspace=workspace, taisly_id=taisly_id, first_seen_at=now, **fields
                )
                new += 1
            else:
                for name, value in fields.items():
                    setattr(row, name, value)
                row.save(update_fields=list(fields))
        gone = (
            Platform.objects.filter(workspace=workspace, gone_at__isnull=True)
            .exclude(taisly_id__in=list(listed))
            .update(gone_at=now, connected=False)
        )
        state.platforms_synced_at = now
        state.save(update_fields=["platforms_synced_at"])
    return PlatformsSummary(total=len(listed), new=new, gone=gone, synced_at=now)


def _check_actor(workspace: Workspace, actor: User | None) -> None:
    """A person's sync spends the team's hourly quota: writers only, checked in a short locked
    transaction of its own right before the call (no lock is held across it)."""
    if actor is not None:
        with transaction.atomic():
            lock_writer(workspace=workspace, actor=actor)


def platforms_sync(*, workspace: Workspace, actor: User | None = None) -> PlatformsSummary:
    """Read the connected social accounts from Taisly (one request) and store them.

    Raises ``TaislyActionError`` (nothing changed) when Taisly cannot be asked or fails, and
    ``RoleRequired`` when ``actor`` (a person's "Sync now"; None for the background) may not
    spend the key's quota.
    """
    _check_actor(workspace, actor)
    started = timezone.now()
    with taisly_for(workspace) as client:
        platforms = client.platforms()
    return platforms_store(workspace=workspace, platforms=platforms, now=started)


# --- History ---------------------------------------------------------------------------------


def sync_window(workspace: Workspace, now: datetime) -> tuple[datetime, datetime]:
    """The one window that covers every post of the workspace that can still change."""
    end = now + timedelta(days=settings.POSTING_SYNC_AHEAD_DAYS)
    floor = now - timedelta(days=settings.POSTING_SYNC_LOOKBACK_DAYS)
    state = MirrorState.objects.filter(workspace=workspace).first()
    if state is None or state.history_synced_at is None:
        return floor, end  # history_sync backfills by pages instead; this is only a bound
    # Unfinished: a result still PENDING, a post sent here that has no results yet, or a
    # scheduled post not yet due (its due time is in the future, so the last sync bounds it).
    unfinished = (
        Post.objects.filter(workspace=workspace, taisly_id__isnull=False)
        .exclude(state=Post.State.CANCELLED)
        .filter(
            Q(results__status=PostResult.Status.PENDING)
            | Q(state=Post.State.SENT, results__isnull=True)
        )
        .aggregate(oldest=Min(Coalesce("due_at", "sent_at", "created_at")))["oldest"]
    )
    start = state.history_synced_at
    if unfinished is not None and unfinished < start:
        start = unfinished
    return max(floor, start - SYNC_OVERLAP), end


def _backfilling(state: MirrorState | None) -> bool:
    if state is None or state.history_synced_at is None:
        return True
    # A cursor past the limit (SYNC_BACKFILL_PAGES lowered meanwhile) ends the backfill.
    return state.backfill_page is not None and state.backfill_page <= settings.SYNC_BACKFILL_PAGES


def history_sync(*, workspace: Workspace, actor: User | None = None) -> HistorySummary:
    """Read what can still change (one window request, or a new connection's backfill pages)
    and apply the diff.

    Raises ``TaislyActionError`` when Taisly cannot be asked or fails; the mirror is unchanged.
    ``RoleRequired`` when ``actor`` (a person's "Sync now") may not spend the key's quota.
    """
    _check_actor(workspace, actor)
    now = timezone.now()
    state = MirrorState.objects.filter(workspace=workspace).first()
    if _backfilling(state):
        summary = _backfill(workspace, state, now)
    else:
        start, end = sync_window(workspace, now)
        with taisly_for(workspace) as client:
            posts = client.history_between(start, end)
        summary = history_store(workspace=workspace, posts=posts, start=start, end=end, now=now)
    _raise_alerts(workspace)
    logger.info(
        "History sync of workspace %s: %d posts seen, %d new, %d results changed, %d removed",
        workspace.code,
        summary.seen_posts,
        summary.new_posts,
        summary.changed_results,
        summary.removed_posts,
    )
    return summary


def _due(item: HistoryPost) -> datetime | None:
    # The same due time _post_from_history stores (Post.due_at), so the two compare.
    return item.date or item.scheduled_at or item.created_at


def _reaches_known(workspace: Workspace, page: Iterable[HistoryPost], before) -> bool:
    """True when the page holds a post the mirror already had before this backfill.

    Resuming, posts at or after ``before`` (the oldest the backfill read so far) were read by
    the backfill itself, pushed onto this page by newer posts meanwhile: not a reason to stop.
    """
    known = Post.objects.filter(workspace=workspace, taisly_id__in=[p.id for p in page])
    if before is not None:
        known = known.filter(due_at__lt=before)
    return known.exists()


def _backfill(workspace: Workspace, state: MirrorState | None, now: datetime) -> HistorySummary:
    resuming = state is not None and state.backfill_page is not None
    first = state.backfill_page if resuming else 1
    before = state.backfill_before if resuming else None
    posts: list[HistoryPost] = []
    next_page = None  # None: the backfill ends with this sync
    with taisly_for(workspace) as client:
        number = first
        while True:
            try:
                page = client.history(page=number)
            except TaislyRateLimited:
                if number == first:
                    raise  # nothing read: a failed sync (taisly_for says why)
                # Refused (the background share is spent, or a 429): keep what was read and
                # go on from this page next time.
                next_page = number
                break
            posts.extend(page.posts)
            dues = [d for d in map(_due, page.posts) if d is not None]
            if dues:
                before = min([*dues, before] if before else dues)
            if (
                _reaches_known(workspace, page.posts, state.backfill_before if resuming else None)
                or not page.has_next
                or number >= settings.SYNC_BACKFILL_PAGES
            ):
                break
            number += 1
    if next_page is not None:
        logger.info(
            "Backfill of workspace %s refused at page %d; it goes on next sync",
            workspace.code,
            next_page,
        )
    # start == end == now: a backfill does not read a closed window, so no scheduled post is
    # judged cancelled in Taisly from it.
    return history_store(
        workspace=workspace,
        posts=posts,
        start=now,
        end=now,
        now=now,
        backfill=(next_page, before if next_page is not None else None),
    )


def _raise_alerts(workspace: Workspace) -> None:
    # The diff is committed: new FAILED results and stuck posts raise their alerts now. Should
    # this fail, the sync still stands and the minute's alert scan raises them instead.
    try:
        alerts_for_sync(workspace)
    except Exception:
        logger.exception("Alerts after the sync of workspace %s failed", workspace.code)


def history_store(
    *,
    workspace: Workspace,
    posts: Iterable[HistoryPost],
    start: datetime,
    end: datetime,
    now: datetime | None = None,
    backfill: tuple[int | None, datetime | None] = (None, None),
) -> HistorySummary:
    """Apply ``posts`` (everything Taisly has between ``start`` and ``end``) to the mirror.

    ``backfill`` is stored as the backfill cursor (next page, oldest due time read); the
    default ends any backfill.
    """
    now = now or timezone.now()
    posts = list({p.id: p for p in posts}.values())
    new_posts = changed = removed = 0
    with transaction.atomic():
        state = _locked_state(workspace)
        platforms = {p.taisly_id: p for p in Platform.objects.filter(workspace=workspace)}
        existing = {
            p.taisly_id: p
            for p in Post.objects.filter(
                workspace=workspace, taisly_id__in=[p.id for p in posts]
            ).prefetch_related("results")
        }
        in_flight = set(
            Post.objects.filter(
                workspace=workspace,
                taisly_id__isnull=True,
                state__in=(Post.State.QUEUED, Post.State.SENDING, Post.State.NEEDS_CHECK),
            ).values_list("description", flat=True)
        )

        for item in posts:
            post = existing.get(item.id)
            if post is None:
                if item.description in in_flight:
                    continue
                post = _post_from_history(workspace, item, now)
                new_posts += 1
                results: dict[int, PostResult] = {}
            else:
                _refresh_post(post, item)
                results = {r.platform_id: r for r in post.results.all()}
            changed += _apply_results(post, item.results, results, platforms, now)

        # A scheduled post that Taisly no longer has, inside a window that covers it, was
        # cancelled (deleted) in Taisly's own app. Rows changed since the request left (the
        # uploads worker storing a Taisly id meanwhile) cannot be judged from this answer.
        seen = [p.id for p in posts]
        vanished = Post.objects.filter(
            workspace=workspace,
            taisly_id__isnull=False,
            state=Post.State.SENT,
            scheduled_at__isnull=False,
            due_at__gt=max(now, start + SYNC_OVERLAP),
            due_at__lt=end,
            updated_at__lt=now,
        ).exclude(taisly_id__in=seen)
        removed = vanished.update(
            state=Post.State.CANCELLED,
            state_reason=CANCELLED_AT_TAISLY,
            updated_at=now,
        )

        state.history_synced_at = now
        state.backfill_page, state.backfill_before = backfill
        state.save(update_fields=["history_synced_at", "backfill_page", "backfill_before"])
    return HistorySummary(
        new_posts=new_posts,
        changed_results=changed,
        removed_posts=removed,
        seen_posts=len(posts),
        start=start,
        end=end,
        synced_at=now,
    )


def _post_from_history(workspace: Workspace, item: HistoryPost, now: datetime) -> Post:
    created = item.created_at or item.date or now
    return Post.objects.create(
        workspace=workspace,
        origin=Post.Origin.HISTORY,
        description=item.description,
        cover_second=float(item.preview_time or 0),
        scheduled_at=item.scheduled_at if item.scheduled else None,
        due_at=item.date or item.scheduled_at or created,
        state=Post.State.SENT,
        taisly_id=item.id[:64],
        created_at=created,
    )


def _refresh_post(post: Post, item: HistoryPost) -> None:
    fields = []
    due = item.date or item.scheduled_at
    if due is not None and post.due_at != due:
        post.due_at = due
        fields.append("due_at")
    if post.origin == Post.Origin.HISTORY and post.description != item.description:
        post.description = item.description
        fields.append("description")
    if fields:
        post.save(update_fields=[*fields, "updated_at"])


def results_store(
    *, post: Post, results: Iterable[TaislyResult], now: datetime | None = None
) -> int:
    """Mirror Taisly's per-platform ``results`` of one ``post`` (Taisly's answer to the upload,
    or a candidate a person adopted): the same rules as a history sync, so every result enters
    the mirror one way. Inside the caller's transaction. Returns how many changed."""
    now = now or timezone.now()
    platforms = {p.taisly_id: p for p in Platform.objects.filter(workspace=post.workspace)}
    known = {r.platform_id: r for r in PostResult.objects.filter(post=post)}
    return _apply_results(post, results, known, platforms, now)


def _apply_results(
    post: Post,
    results: Iterable[TaislyResult],
    known: dict[int, PostResult],
    platforms: dict[str, Platform],
    now: datetime,
) -> int:
    changed = 0
    for result in results:
        platform = _platform_for(post.workspace, platforms, result, now)
        if platform is None:
            continue
        if _apply_result(post, platform, known.get(platform.pk), result, platforms, now):
            changed += 1
    return changed


def _platform_for(
    workspace: Workspace, platforms: dict[str, Platform], result: TaislyResult, now: datetime
) -> Platform | None:
    taisly_id = result.platform_id
    if not taisly_id:
        return None
    row = platforms.get(taisly_id)
    if row is None:
        # A platform Taisly no longer lists (or never did for us): a placeholder that keeps the
        # result and the network's name.
        row = Platform.objects.create(
            workspace=workspace,
            taisly_id=taisly_id[:64],
            network=(result.network or "")[:32],
            connected=False,
            gone_at=now,
            first_seen_at=now,
            last_seen_at=now,
        )
        platforms[taisly_id] = row
    return row


def _failure(result: TaislyResult) -> tuple[str, str]:
    """(code, message) of a FAILED result: Taisly puts the code in ``message``."""
    text = (result.message or "").strip()
    if _CODE.fullmatch(text):
        return text, ""
    return "", text


def _apply_result(post, platform, row, result: TaislyResult, platforms, now) -> bool:
    """Create or update one result; True when it is new or its status or code changed."""
    status = result.status if result.status in PostResult.Status.values else ""
    if not status:
        logger.warning("Unknown Taisly result status %r ignored", result.status)
        return False
    code, message = _failure(result) if status == PostResult.Status.FAILED else ("", "")
    # Taisly's repostOf names the source platform (the sandbox does). Anything else (a post
    # id, say) still marks the result as a repost, just without a source to show.
    source = platforms.get(result.repost_of) if result.repost_of else None
    is_repost = bool(result.repost_of)
    if row is None:
        PostResult.objects.create(
            post=post,
            platform=platform,
            status=status,
            code=code,
            message=message,
            is_repost=is_repost,
            repost_of=source,
            first_seen_at=now,
            status_changed_at=now,
        )
        return True
    fields = []
    changed = row.status != status or row.code != code
    if changed:
        row.status, row.code, row.message, row.status_changed_at = status, code, message, now
        fields += ["status", "code", "message", "status_changed_at"]
        if status == PostResult.Status.FAILED:
            row.seen_at = None
            fields.append("seen_at")
    if row.is_repost != is_repost or row.repost_of_id != (source.pk if source else None):
        row.is_repost, row.repost_of = is_repost, source
        fields += ["is_repost", "repost_of"]
    if fields:
        row.save(update_fields=fields)
    return changed
