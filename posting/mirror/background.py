"""Background sync: a django-q2 schedule finds the workspaces that are due, one task syncs each.

    every minute ─> sync_dispatch()                          (schedule SYNC_SCHEDULE, catch_up off)
        due = active key, not blocked, not leased, due per next_sync_at(), background budget left
        ─ MirrorState.sync_ticket := uuid where none is outstanding   (conditional UPDATE: one
        │                                                              dispatcher wins each row)
        └─ async_task(sync_connection, connection_id, ticket)          (an id and a ticket, no key)
    sync_connection(connection_id, ticket)
        ─ spend the ticket, take the lease (sync_claimed_until)      (conditional UPDATE: one task
        │                                                              syncs; a redelivery finds no
        │                                                              ticket and does nothing)
        ─ with quota.background(): history_sync, and platforms_sync / reposts_sync when stale
        ─ 401/403: invalid, no more syncing until an owner acts; 429: blocked until retryAfter;
        │ 5xx, timeouts: back off (doubling); budget spent: retry when it frees up
        └─ release the lease

The services are the ones "Sync now" uses (posting.mirror.sync, posting.mirror.reposts): the
same code, counted as background because it runs inside ``quota.background()``. Several
clusters, on several machines, may run the dispatcher and the tasks against one PostgreSQL: the
conditional updates decide, not the process.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone
from django_q.conf import Conf
from django_q.status import Stat
from django_q.tasks import async_task

from accounts.models import TaislyConnection
from posting.mirror.reposts import RepostActionError, reposts_sync
from posting.mirror.sync import history_sync, platforms_sync
from posting.models import MirrorState, Post, PostResult, TaislyRequest
from posting.taisly import TaislyAuthError, TaislyRateLimited
from posting.taisly import governor as quota
from posting.taisly.gateway import TaislyActionError

logger = logging.getLogger(__name__)

#: A task holds its workspace this long at most (longer than the cluster's task timeout, so a
#: killed task's lease runs out by itself).
LEASE = timedelta(seconds=240)
#: A ticket no task spent in this time (its task was lost) may be handed out again.
TICKET_STALE = timedelta(minutes=5)
#: The longest back-off after outages in a row.
MAX_BACKOFF = timedelta(minutes=30)


def idle_interval(plan: str, *, sharing: int = 1) -> timedelta:
    """How long a workspace with nothing in flight waits between history reads.

    Idle polling is how posts made outside the dashboard (Taisly's own app, the Agent Kit) and
    their failures are found, so its cadence decides how soon such a failure raises an alert. It
    is derived from the plan's hourly budget: idle polling may spend ``SYNC_IDLE_SHARE`` of it
    (default 0.25, half the background share), so with the defaults

        STARTER     50/h  ->  12.5 reads/h  ->  every 288 s (the minute dispatcher: every 5 min)
        INFLUENCER 200/h  ->  50 reads/h    ->  every 72 s  (in effect every 2 min)
        PRO       1000/h  ->  250 reads/h   ->  every 14.4 s, floored at SYNC_FIRST_SECONDS
                                                (in effect every minute: 60/h, 6 % of the hour)

    A key held by ``sharing`` connections (Taisly counts per key) splits that share between
    them. The dispatcher runs once a minute, so in effect a period is rounded up to whole
    minutes; rounding only ever spends less. The governor still caps background work as a whole
    at ``SYNC_BUDGET_FRACTION``.
    """
    limit = TaislyConnection.HOURLY_LIMITS.get(plan, 50)
    reads_per_hour = settings.SYNC_IDLE_SHARE * limit / max(1, sharing)
    return max(
        timedelta(seconds=settings.SYNC_FIRST_SECONDS),
        timedelta(seconds=3600 / reads_per_hour),
    )


def stale_after(plan: str, *, sharing: int = 1) -> timedelta:
    """How old history may be before pages warn that it is stale, for this plan and a key held
    by ``sharing`` connections: two idle periods (at least two dispatcher runs) and a lease."""
    period = max(
        idle_interval(plan, sharing=sharing), timedelta(seconds=settings.SYNC_DISPATCH_SECONDS)
    )
    return 2 * period + LEASE


def key_sharing() -> dict[str, int]:
    """How many active connections hold each key held by more than one (by fingerprint): they
    split its idle share, so their history is read less often. One query."""
    return dict(
        TaislyConnection.objects.filter(status=TaislyConnection.Status.ACTIVE)
        .exclude(key_fingerprint="")
        .values("key_fingerprint")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("key_fingerprint", "n")
    )


def platforms_interval() -> timedelta:
    return timedelta(hours=settings.SYNC_PLATFORMS_HOURS)


def next_sync_at(
    *,
    synced_at: datetime | None,
    last_event: datetime | None,
    retry_at: datetime | None,
    plan: str,
    now: datetime,
    sharing: int = 1,
) -> datetime:
    """When a workspace's history should be read next.

    - Never read: now (a new connection backfills at once).
    - A post was sent or came due (``last_event``: the latest due time of a post whose results
      can still change) after the last sync: SYNC_FIRST_SECONDS after it (results appear within
      seconds in the sandbox and within minutes on Taisly).
    - Results still PENDING since: back off, waiting as long again as the post has already been
      in flight at the last sync (so 20 s, 40 s, 80 s, ... after the event), never longer than
      the idle period. A post that stays PENDING for hours costs a request per idle period.
    - Nothing in flight: once per idle period (``idle_interval``: a fixed share of the plan's
      hourly budget, so posts made in Taisly's own app, and their failures, turn up within
      minutes).
    - After an outage or a spent budget: not before ``retry_at``.
    """
    if synced_at is None:
        due = now
    else:
        idle = idle_interval(plan, sharing=sharing)
        first = timedelta(seconds=settings.SYNC_FIRST_SECONDS)
        due = synced_at + idle
        if last_event is not None:
            if synced_at < last_event:
                due = min(due, last_event + first)
            else:
                due = min(due, synced_at + max(first, synced_at - last_event))
    if retry_at is not None and retry_at > due:
        due = retry_at
    return due


@dataclass(frozen=True)
class Candidate:
    connection: TaislyConnection
    due_at: datetime


def due_connections(*, now: datetime | None = None) -> list[Candidate]:
    """The connections whose workspace is due for a background sync now, within budget.

    Three queries whatever the number of connections: the connections with their mirror state
    and latest in-flight post, and the hour's ledger counts per key.
    """
    now = now or timezone.now()
    due = [c for c in _planned(now) if not c.busy and c.due_at <= now]
    return _within_budget(due, now)


@dataclass(frozen=True)
class Planned(Candidate):
    #: A sync of it is under way or handed out (a ticket, a lease): not to be dispatched now.
    busy: bool = False
    #: The due time of its latest post whose results can still change, if any.
    last_event: datetime | None = None


def _planned(now: datetime, *, watched: bool = False) -> list[Planned]:
    """Every active connection not blocked, with when its history should be read next.

    ``watched``: only those with a post whose results are due (one that went out within
    ``SYNC_WATCH_HORIZON_MINUTES``, or goes out within the next watch), planned from that post.
    Two queries.
    """
    in_flight = (
        Post.objects.filter(workspace=OuterRef("workspace_id"), taisly_id__isnull=False)
        .exclude(state=Post.State.CANCELLED)
        .filter(Q(results__status=PostResult.Status.PENDING) | Q(results__isnull=True))
    )
    if watched:
        horizon = timedelta(minutes=settings.SYNC_WATCH_HORIZON_MINUTES)
        ahead = timedelta(seconds=settings.SYNC_WATCH_SECONDS)
        in_flight = in_flight.filter(due_at__gt=now - horizon, due_at__lte=now + ahead)
    else:
        in_flight = in_flight.filter(due_at__lte=now)
    rows = (
        TaislyConnection.objects.filter(status=TaislyConnection.Status.ACTIVE)
        .filter(Q(blocked_until__isnull=True) | Q(blocked_until__lte=now))
        .exclude(key_hint="")
        .defer("api_key")
        .select_related("workspace__mirror_state")
        .annotate(last_event=Subquery(in_flight.order_by("-due_at").values("due_at")[:1]))
        .order_by("pk")
    )
    if watched:
        rows = rows.filter(last_event__isnull=False)
    rows = list(rows)
    # Connections holding one key share its budget, and so its idle share.
    sharing = Counter(c.key_fingerprint for c in rows if c.key_fingerprint)
    planned: list[Planned] = []
    for connection in rows:
        state = getattr(connection.workspace, "mirror_state", None)
        busy = state is not None and bool(
            (state.sync_claimed_until and state.sync_claimed_until > now)
            or (
                state.sync_ticket
                and state.sync_ticket_at
                and state.sync_ticket_at > now - TICKET_STALE
            )
        )
        when = next_sync_at(
            # A backfill cut short by the budget goes on as soon as the budget allows.
            synced_at=(state.history_synced_at if state and state.backfill_page is None else None),
            last_event=connection.last_event,
            retry_at=state.sync_retry_at if state else None,
            plan=connection.plan,
            now=now,
            sharing=sharing.get(connection.key_fingerprint, 1),
        )
        planned.append(
            Planned(connection=connection, due_at=when, busy=busy, last_event=connection.last_event)
        )
    return planned


def _within_budget(candidates: list[Candidate], now: datetime) -> list[Candidate]:
    """Leave out connections whose key has no background share left this hour (the governor
    would refuse them anyway; this saves enqueuing tasks that could only be refused)."""
    fingerprints = {
        c.connection.key_fingerprint for c in candidates if c.connection.key_fingerprint
    }
    spent = {
        row["fingerprint"]: row
        for row in TaislyRequest.objects.filter(
            fingerprint__in=fingerprints, started_at__gt=now - quota.HOUR
        )
        .values("fingerprint")
        .annotate(
            total=Count("id"),
            background=Count("id", filter=Q(kind=TaislyRequest.Kind.BACKGROUND)),
        )
    }
    planned: dict[str, int] = {}
    kept = []
    for candidate in candidates:
        connection = candidate.connection
        limit = connection.hourly_limit
        counts = spent.get(connection.key_fingerprint, {"total": 0, "background": 0})
        extra = planned.get(connection.key_fingerprint, 0)
        if (
            counts["background"] + extra >= quota.background_limit(limit)
            or counts["total"] + extra >= limit
        ):
            continue
        planned[connection.key_fingerprint] = extra + 1
        kept.append(candidate)
    return kept


def sync_dispatch(*, now: datetime | None = None) -> int:
    """Hand each due workspace a ticket and enqueue its sync task. Returns how many.

    While a post's results are due (it went out within ``SYNC_WATCH_HORIZON_MINUTES``, or goes
    out before the next run), it also starts the results watch, if none is running."""
    now = now or timezone.now()
    enqueued = 0
    for candidate in due_connections(now=now):
        ticket = _hand_ticket(candidate.connection, now)
        if ticket is None:
            continue  # another dispatcher (another cluster) got there first
        async_task(
            "posting.tasks.sync_connection",
            candidate.connection.pk,
            str(ticket),
            task_name=f"sync {candidate.connection.workspace.code}",
            group="posting sync",
        )
        enqueued += 1
    if settings.SYNC_WATCH_SECONDS and _watch_look(now)[1] is not None:
        results_watch_start()
    return enqueued


def _hand_ticket(connection: TaislyConnection, now: datetime) -> uuid.UUID | None:
    """A ticket for ``connection``'s workspace, unless one is outstanding or a sync holds it."""
    MirrorState.objects.get_or_create(workspace_id=connection.workspace_id)
    ticket = uuid.uuid4()
    won = (
        MirrorState.objects.filter(workspace_id=connection.workspace_id)
        .filter(
            Q(sync_ticket__isnull=True) | Q(sync_ticket_at__lte=now - TICKET_STALE),
            Q(sync_claimed_until__isnull=True) | Q(sync_claimed_until__lte=now),
        )
        .update(sync_ticket=ticket, sync_ticket_at=now)
    )
    return ticket if won == 1 else None


# --- Results due: the watch ------------------------------------------------------------------
#
# The minute dispatcher runs when django-q2's scheduler looks, every 30 s at best and in effect
# every 60 to 90 s: a result Taisly settles just after a run would wait that long, and the open
# post page with it. So while a post's results are due, one default-cluster worker (at most one
# in all, claimed in the shared database cache) watches: it sleeps until the next planned read
# of any such workspace (``next_sync_at``: 20 s after the send, then backing off, never more
# often than the plan's share allows) and reads it then, under the same ticket and lease as the
# dispatcher's tasks, counted as background work by the governor. It lets go of its worker
# after ``SYNC_WATCH_SECONDS`` (the dispatcher starts another while results are still due) or
# as soon as nothing is due.

WATCH_CLAIM = "posting:results-watch"
#: The shortest and the longest sleep between two looks.
WATCH_TICK = 1.0
WATCH_LONGEST = 5.0


def results_watch_start() -> bool:
    """Start the results watch unless one runs (or it is turned off). True when started."""
    if not settings.SYNC_WATCH_SECONDS:
        return False
    # Kept a little longer than the watch itself: a lost task frees it by itself.
    if not cache.add(WATCH_CLAIM, str(uuid.uuid4()), timeout=settings.SYNC_WATCH_SECONDS + 15):
        return False
    # Into the default cluster by name: a send ends in the uploads cluster, whose queue its
    # own tasks would otherwise go to (and whose workers are the uploads').
    async_task(
        "posting.tasks.results_watch",
        task_name="results watch",
        group="posting sync",
        cluster=settings.Q_CLUSTER["name"],
    )
    return True


def _watch_look(now: datetime) -> tuple[list[Candidate], datetime | None]:
    """The workspaces whose results are due to be read now (within budget), and when to look
    next: the earliest later read, a tick from now while one of them is being synced, or None
    when no result is due anywhere. Three queries."""
    planned = _planned(now, watched=True)
    ready = _within_budget([c for c in planned if not c.busy and c.due_at <= now], now)
    moments = [c.due_at for c in planned if not c.busy and c.due_at > now]
    if ready or any(c.busy for c in planned):
        moments.append(now + timedelta(seconds=WATCH_TICK))
    return ready, (min(moments) if moments else None)


def cluster_stopping() -> bool:
    """True once the cluster this worker belongs to was told to stop (SIGTERM, `docker stop`).
    django-q2 lets a worker finish its task before the cluster ends, so a watch that slept on
    would hold the stop past Docker's 10 s and be killed. The cluster's own status record (kept
    in the database cache every half second, saying STOPPING while it stops) names its
    sentinel, the worker's parent process. One query."""
    parent = os.getppid()
    try:
        stats = Stat.get_all()
    except Exception:  # the status record is a convenience: the watch ends at its deadline
        return False
    return any(stat.sentinel == parent and stat.status == Conf.STOPPING for stat in stats)


def results_watch(*, sleep=time.sleep, clock=time.monotonic, stopping=cluster_stopping) -> str:
    """Read each workspace's history when its results are due, for ``SYNC_WATCH_SECONDS`` at
    most. The reads run here, in this worker (the cluster may have no other), one workspace
    after another. Returns what it did (the task's result)."""
    deadline = clock() + settings.SYNC_WATCH_SECONDS
    synced = 0
    try:
        while True:
            ready, _wake = _watch_look(timezone.now())
            for candidate in ready:
                ticket = _hand_ticket(candidate.connection, timezone.now())
                if ticket is not None:
                    sync_connection(connection_id=candidate.connection.pk, ticket=str(ticket))
                    synced += 1
            now = timezone.now()
            _ready, wake = _watch_look(now)
            if wake is None:
                break
            # At most WATCH_LONGEST asleep: a post sent meanwhile is planned from its send.
            pause = min(WATCH_LONGEST, max(WATCH_TICK, (wake - now).total_seconds()))
            if clock() + pause > deadline:
                break
            # Asleep a second at a time, so a stopping cluster is let go within about one.
            woken = clock() + pause
            while clock() < woken and not stopping():
                sleep(min(WATCH_TICK, woken - clock()))
            if stopping():
                return f"{synced} syncs while results were due; the cluster is stopping"
    finally:
        cache.delete(WATCH_CLAIM)
    # Results still due (the time is up), or a post sent while this one was letting go: the
    # next watch goes to the back of the queue, so the cluster's other tasks go first.
    if _watch_look(timezone.now())[1] is not None:
        results_watch_start()
    return f"{synced} syncs while results were due"


# --- One workspace ---------------------------------------------------------------------------


def sync_connection(*, connection_id: int, ticket: str) -> str:
    """Sync one connection's workspace in the background, if its ticket is still outstanding.

    Returns what happened (the task's result): "not claimed" for a redelivered or superseded
    task, else "synced" or the reason it stopped.
    """
    now = timezone.now()
    connection = (
        TaislyConnection.objects.defer("api_key")
        .select_related("workspace")
        .filter(pk=connection_id)
        .first()
    )
    if connection is None:
        return "gone"
    try:
        ticket_id = uuid.UUID(str(ticket))
    except ValueError:
        return "not claimed"
    claimed = (
        MirrorState.objects.filter(workspace_id=connection.workspace_id, sync_ticket=ticket_id)
        .filter(Q(sync_claimed_until__isnull=True) | Q(sync_claimed_until__lte=now))
        .update(
            sync_ticket=None,
            sync_ticket_at=None,
            sync_claimed_until=now + LEASE,
            sync_attempted_at=now,
        )
    )
    if claimed != 1:
        return "not claimed"
    try:
        return _sync(connection)
    finally:
        MirrorState.objects.filter(workspace_id=connection.workspace_id).update(
            sync_claimed_until=None
        )


def _sync(connection: TaislyConnection) -> str:
    workspace = connection.workspace
    with quota.background():
        try:
            history_sync(workspace=workspace)
        except TaislyActionError as exc:
            return _after_failure(connection, exc)
        state = MirrorState.objects.get(workspace=workspace)
        fresh = timezone.now() - platforms_interval()
        try:
            if state.platforms_synced_at is None or state.platforms_synced_at < fresh:
                platforms_sync(workspace=workspace)
        except TaislyActionError as exc:
            # History is current; the slower refreshes try again at the next sync.
            _after_failure(connection, exc)
            return "synced"
        if state.reposts_synced_at is None or state.reposts_synced_at < fresh:
            try:
                reposts_sync(workspace=workspace, actor=None)
            except RepostActionError:
                # Its sentence says why; the rules are as they were and are tried next time.
                # (A 401 or 429 here was already recorded on the connection by the gateway.)
                logger.info("Background repost-rule sync of %s failed", workspace.code)
                return "synced"
    MirrorState.objects.filter(workspace=workspace).update(
        sync_failures=0, sync_retry_at=None, sync_error=""
    )
    return "synced"


def _after_failure(connection: TaislyConnection, exc: TaislyActionError) -> str:
    """Record why a background sync stopped; the mirror is as it was (the services write
    nothing when Taisly fails)."""
    cause = exc.cause
    now = timezone.now()
    states = MirrorState.objects.filter(workspace_id=connection.workspace_id)
    if cause is None:
        # No usable key (disconnected, invalid meanwhile): nothing to do until an owner acts.
        states.update(sync_error="no_key")
        return "no key"
    if isinstance(cause, quota.QuotaRefused):
        if cause.blocked:
            states.update(sync_error="blocked")
            return "blocked"
        states.update(sync_error="budget", sync_retry_at=cause.until)
        return "budget"
    if isinstance(cause, TaislyRateLimited):
        # The client blocked every connection holding the key until retryAfter.
        states.update(sync_error="blocked")
        return "blocked"
    if isinstance(cause, TaislyAuthError):
        # 401 (revoked, regenerated elsewhere) or 403 (the plan lost API access): the key cannot
        # work until an owner acts, so it is marked invalid and no longer picked for syncing.
        TaislyConnection.objects.filter(
            pk=connection.pk, status=TaislyConnection.Status.ACTIVE
        ).update(status=TaislyConnection.Status.INVALID, status_changed_at=now)
        states.update(sync_error="invalid")
        return "invalid"
    state = states.first()
    failures = (state.sync_failures if state else 0) + 1
    delay = min(MAX_BACKOFF, timedelta(minutes=1) * 2 ** min(failures - 1, 10))
    states.update(sync_failures=failures, sync_retry_at=now + delay, sync_error="outage")
    logger.info(
        "Background sync of workspace %s failed (%s); retrying in %s",
        connection.workspace.code,
        type(cause).__name__,
        delay,
    )
    return "outage"


def ledger_prune() -> int:
    return quota.ledger_prune()
