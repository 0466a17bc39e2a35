"""The request ledger and the quota governor: every Taisly request counted, none over budget.

    caller ──GovernedClient._call──> reserve()  one transaction, the key's KeyBudget row locked:
                                       blocked? (any connection with this key, until retryAfter)
                                       over the sliding hour? (background: its share; else: all)
                                       ├─ refused: QuotaRefused (a 429 of our own, with a sentence
                                       │  saying when it works again); nothing is sent or counted
                                       └─ a TaislyRequest row, done=False ("reserved")
           ──TaislyClient._call──> Taisly ──taisly_call signal──> ledger_record() completes it
           ├─ a 429 from Taisly ──> block(): every connection with this key waits until retryAfter
           │                        (the first 429 of a run stamps blocked_since)
           └─ served ──> served(): the run of 429s, if any, is over (blocked_since cleared)

What may and may not happen:
- Taisly counts per account and says nothing until the 429, so the count is ours: every request
  is a row, keyed by the key's fingerprint (HMAC, never the key), and two workspaces that paste
  the same key share one budget. Calls made outside the governor (a bare ``TaislyClient``) are
  still recorded by the signal (against the connection in its ``context``, if any).
- The decision and the reservation are one step under a row lock (PostgreSQL), or under SQLite's
  write lock (the project's SQLite transactions begin IMMEDIATE): two web processes and two
  workers deciding at once cannot together spend more than the budget.
- Background work (``with background():``, set by the sync tasks) may use at most
  ``SYNC_BUDGET_FRACTION`` of the hour; interactive work may use whatever is left, so the team's
  own clicks are never starved by the sync.
- Revoking goes through even while blocked or over budget: a leaked key must be stoppable.
- A regenerated key takes over its predecessor's hour (``carry_over``): Taisly counts per
  account, not per key.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.crypto import key_fingerprint
from accounts.models import TaislyConnection, Workspace
from posting.models import KeyBudget, TaislyRequest, reasons
from posting.taisly import TaislyClient, TaislyRateLimited, taisly_call

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
Kind = TaislyRequest.Kind

_kind: ContextVar[str] = ContextVar("taisly_request_kind", default=Kind.INTERACTIVE)
_reservation: ContextVar[int | None] = ContextVar("taisly_reservation", default=None)


@contextmanager
def background() -> Iterator[None]:
    """Every Taisly request made inside counts as background work (sync), not a person's."""
    token = _kind.set(Kind.BACKGROUND)
    try:
        yield
    finally:
        _kind.reset(token)


def current_kind() -> str:
    return _kind.get()


class QuotaRefused(TaislyRateLimited):
    """The governor refused a request before it left: a 429 of our own.

    ``retry_after`` is seconds until it may go; ``sentence`` says so for a person. Never
    ambiguous (nothing was sent), transient (it works later), not counted in the ledger.
    """

    fallback_code = "QUOTA_REFUSED"

    def __init__(
        self, sentence: str | Callable[[], str], *, retry_after: int, until: datetime, blocked: bool
    ):
        # A callable is rendered again each time it is read: in a person's language and time
        # zone, or as a stored reason (posting.models.reasons) in every language, its time kept
        # as a moment that each viewer reads in their own zone.
        self._build = sentence if callable(sentence) else (lambda: sentence)
        self.until = until
        self.blocked = blocked
        super().__init__(self.sentence, retry_after=retry_after)

    @property
    def sentence(self) -> str:
        return self._build()


# --- Reading the budget ----------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """A key's sliding hour, as the meter shows it and the governor decides on it."""

    limit: int
    used: int
    background_used: int
    background_limit: int
    #: When the oldest request of the hour leaves it (one more may go then), or None.
    next_free_at: datetime | None
    blocked_until: datetime | None

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def is_blocked(self) -> bool:
        return self.blocked_until is not None


def background_limit(limit: int) -> int:
    return math.floor(limit * min(1.0, settings.SYNC_BUDGET_FRACTION))


def budget_for(connection: TaislyConnection, *, now: datetime | None = None) -> Budget:
    """The budget of ``connection``'s key: two queries whatever the ledger's size (the hour's
    counts and first request from the (fingerprint, started_at) index, and the latest block of
    any connection holding the key)."""
    now = now or timezone.now()
    fingerprint = connection.key_fingerprint
    return _budget(
        fingerprint=fingerprint,
        connection_id=connection.pk,
        limit=connection.hourly_limit,
        now=now,
        own_block=connection.blocked_until,
    )


def _budget(
    *,
    fingerprint: str,
    connection_id: int | None,
    limit: int,
    now: datetime,
    own_block: datetime | None = None,
) -> Budget:
    if fingerprint:
        window = TaislyRequest.objects.filter(fingerprint=fingerprint, started_at__gt=now - HOUR)
    else:
        window = TaislyRequest.objects.filter(
            connection_id=connection_id, started_at__gt=now - HOUR
        )
    counts = window.aggregate(
        used=Count("id"),
        background=Count("id", filter=Q(kind=Kind.BACKGROUND)),
        oldest=Min("started_at"),
    )
    blocked = own_block if own_block and own_block > now else None
    if fingerprint:
        shared = (
            TaislyConnection.objects.filter(key_fingerprint=fingerprint, blocked_until__gt=now)
            .aggregate(until=Max("blocked_until"))
            .get("until")
        )
        if shared and (blocked is None or shared > blocked):
            blocked = shared
    return Budget(
        limit=limit,
        used=counts["used"],
        background_used=counts["background"],
        background_limit=background_limit(limit),
        next_free_at=counts["oldest"] + HOUR if counts["oldest"] else None,
        blocked_until=blocked,
    )


def _frees_up_at(fingerprint: str, connection_id: int | None, now: datetime, over: int) -> datetime:
    """When ``over`` + 1 of the hour's requests (oldest first) have left it."""
    if fingerprint:
        window = TaislyRequest.objects.filter(fingerprint=fingerprint)
    else:
        window = TaislyRequest.objects.filter(connection_id=connection_id)
    moments = list(
        window.filter(started_at__gt=now - HOUR)
        .order_by("started_at")
        .values_list("started_at", flat=True)[over : over + 1]
    )
    return (moments[0] if moments else now) + HOUR


def _frees_up_background(fingerprint: str, connection_id: int | None, now: datetime, over: int):
    window = TaislyRequest.objects.filter(kind=Kind.BACKGROUND, started_at__gt=now - HOUR)
    if fingerprint:
        window = window.filter(fingerprint=fingerprint)
    else:
        window = window.filter(connection_id=connection_id)
    moments = list(
        window.order_by("started_at").values_list("started_at", flat=True)[over : over + 1]
    )
    return (moments[0] if moments else now) + HOUR


# --- Sentences -------------------------------------------------------------------------------


def _when(until: datetime, now: datetime) -> dict:
    minutes = max(1, math.ceil((until - now).total_seconds() / 60))
    return {"time": reasons.moment(until), "minutes": minutes}


def blocked_sentence(until: datetime, now: datetime) -> str:
    when = _when(until, now)
    return (
        ngettext(
            "Taisly's hourly request limit for this key is used up. It works again at %(time)s "
            "(in about %(minutes)d minute).",
            "Taisly's hourly request limit for this key is used up. It works again at %(time)s "
            "(in about %(minutes)d minutes).",
            when["minutes"],
        )
        % when
    )


def spent_sentence(limit: int, until: datetime, now: datetime) -> str:
    when = {**_when(until, now), "limit": limit}
    return (
        ngettext(
            "This key has made its %(limit)d Taisly requests of the last hour. The next one frees "
            "up at %(time)s (in about %(minutes)d minute).",
            "This key has made its %(limit)d Taisly requests of the last hour. The next one frees "
            "up at %(time)s (in about %(minutes)d minutes).",
            when["minutes"],
        )
        % when
    )


def background_sentence(until: datetime, now: datetime) -> str:
    return _("Background sync has used its share of this key's hour; it resumes at %(time)s.") % (
        _when(until, now)
    )


# --- The governor ----------------------------------------------------------------------------


def reserve(
    *,
    fingerprint: str,
    connection: TaislyConnection | None,
    limit: int,
    endpoint: str,
    exempt: bool = False,
    kind: str | None = None,
) -> int:
    """Decide whether one request may go now and, if so, reserve it: returns the ledger row's id.

    Raises ``QuotaRefused`` (nothing reserved) while any connection holding the key is blocked,
    or when the request would exceed the key's hour (background: its share). ``exempt`` (revoke)
    skips both checks but is still counted.
    """
    kind = kind or _kind.get()
    connection_id = connection.pk if connection is not None else None
    with transaction.atomic():
        if fingerprint:
            KeyBudget.objects.get_or_create(fingerprint=fingerprint)
            KeyBudget.objects.select_for_update().filter(fingerprint=fingerprint).first()
        elif connection_id is not None:
            TaislyConnection.objects.select_for_update().filter(pk=connection_id).first()
        # The clock is read under the lock: a request reserved by the process we waited for
        # is already in the window we count.
        now = timezone.now()
        if not exempt:
            own_block = None
            if connection_id is not None:
                own_block = (
                    TaislyConnection.objects.filter(pk=connection_id)
                    .values_list("blocked_until", flat=True)
                    .first()
                )
            budget = _budget(
                fingerprint=fingerprint,
                connection_id=connection_id,
                limit=limit,
                now=now,
                own_block=own_block,
            )
            _decide(budget, kind, fingerprint, connection_id, now)
        row = TaislyRequest.objects.create(
            connection_id=connection_id,
            fingerprint=fingerprint,
            kind=kind,
            endpoint=endpoint[:64],
            started_at=now,
            done=False,
        )
    return row.pk


def _decide(budget: Budget, kind: str, fingerprint: str, connection_id: int | None, now) -> None:
    if budget.blocked_until is not None:
        until = budget.blocked_until
        raise QuotaRefused(
            lambda: blocked_sentence(until, now),
            retry_after=_seconds(until, now),
            until=until,
            blocked=True,
        )
    if kind == Kind.BACKGROUND and budget.background_used >= budget.background_limit:
        over = budget.background_used - budget.background_limit
        until = _frees_up_background(fingerprint, connection_id, now, over)
        if budget.used >= budget.limit:
            until = max(
                until, _frees_up_at(fingerprint, connection_id, now, budget.used - budget.limit)
            )
        raise QuotaRefused(
            lambda: background_sentence(until, now),
            retry_after=_seconds(until, now),
            until=until,
            blocked=False,
        )
    if budget.used >= budget.limit:
        until = _frees_up_at(fingerprint, connection_id, now, budget.used - budget.limit)
        raise QuotaRefused(
            lambda: spent_sentence(budget.limit, until, now),
            retry_after=_seconds(until, now),
            until=until,
            blocked=False,
        )


def _seconds(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


def _holders(fingerprint: str, connection: TaislyConnection | None) -> Q:
    holders = Q(key_fingerprint=fingerprint) if fingerprint else Q(pk__in=[])
    if connection is not None:
        holders |= Q(pk=connection.pk)
    return holders


def block(*, fingerprint: str, connection: TaislyConnection | None, retry_after: int) -> datetime:
    """After Taisly's 429: every connection holding this key waits ``retry_after`` seconds.

    The first 429 of a run also stamps ``blocked_since``; later ones keep it, so a key that
    Taisly refuses again each time its block ends (another app spending the account's hour) is
    seen as blocked since the first, which is what the "blocked" alert measures.
    """
    now = timezone.now()
    until = now + timedelta(seconds=retry_after)
    holders = TaislyConnection.objects.filter(_holders(fingerprint, connection))
    holders.filter(Q(blocked_until__isnull=True) | Q(blocked_until__lt=until)).update(
        blocked_until=until
    )
    holders.filter(blocked_since__isnull=True).update(blocked_since=now)
    if connection is not None:
        connection.blocked_until = until
        connection.blocked_since = connection.blocked_since or now
    return until


def served(*, fingerprint: str, connection: TaislyConnection | None) -> None:
    """Taisly served a request with this key: a run of 429s, if there was one, is over."""
    TaislyConnection.objects.filter(_holders(fingerprint, connection)).filter(
        blocked_since__isnull=False
    ).update(blocked_since=None)
    if connection is not None:
        connection.blocked_since = None


def carry_over(*, old_fingerprint: str, new_fingerprint: str, now: datetime | None = None) -> int:
    """Count the hour's requests of a replaced key against the key that replaces it.

    Taisly counts per account, and a regenerated key is the same account: without this the new
    key would start from nothing and the governor would let the hour be spent twice (Taisly then
    answers 429 and blocks the key). Called by the key services in the transaction that stores
    the new key. Returns how many requests were carried."""
    if not old_fingerprint or not new_fingerprint or old_fingerprint == new_fingerprint:
        return 0
    now = now or timezone.now()
    # The new key's budget row, locked: a decision for the new key waits for the carried rows.
    KeyBudget.objects.get_or_create(fingerprint=new_fingerprint)
    KeyBudget.objects.select_for_update().filter(fingerprint=new_fingerprint).first()
    return TaislyRequest.objects.filter(
        fingerprint=old_fingerprint, started_at__gt=now - HOUR
    ).update(fingerprint=new_fingerprint)


class GovernedClient(TaislyClient):
    """A ``TaislyClient`` whose every request asks the governor first and is reserved in the
    ledger. ``connection`` is the connection the calls are counted against (None while a key is
    connected to a workspace that had none: ``attach`` assigns its rows afterwards); the budget is
    the key's, found by its fingerprint. ``exempt`` is for revoking only.
    """

    def __init__(
        self,
        api_key: str,
        *,
        connection: TaislyConnection | None,
        plan: str | None = None,
        exempt: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(api_key, context=connection, **kwargs)
        self.connection = connection
        plan = plan or (connection.plan if connection is not None else None)
        self.limit = TaislyConnection.HOURLY_LIMITS.get(
            plan, min(TaislyConnection.HOURLY_LIMITS.values())
        )
        self.exempt = exempt
        self.reserved: list[int] = []

    def _set_key(self, api_key: str) -> None:
        super()._set_key(api_key)
        # key_generate switches the client to the new key: later calls count against it.
        self.fingerprint = key_fingerprint(self._api_key)

    def _call(self, method: str, path: str, **kwargs):
        endpoint = f"{method} {path}"
        row_id = reserve(
            fingerprint=self.fingerprint,
            connection=self.connection,
            limit=self.limit,
            endpoint=endpoint,
            exempt=self.exempt,
        )
        self.reserved.append(row_id)
        token = _reservation.set(row_id)
        try:
            answer = super()._call(method, path, **kwargs)
        except QuotaRefused:
            raise
        except TaislyRateLimited as exc:
            block(
                fingerprint=self.fingerprint,
                connection=self.connection,
                retry_after=exc.retry_after,
            )
            raise
        finally:
            _reservation.reset(token)
        served(fingerprint=self.fingerprint, connection=self.connection)
        return answer


def attach(client: GovernedClient, connection: TaislyConnection) -> None:
    """Count a connect's requests (made before the workspace had a connection) against it."""
    reserved = getattr(client, "reserved", ())
    if reserved:
        TaislyRequest.objects.filter(pk__in=reserved, connection__isnull=True).update(
            connection=connection
        )


# --- The ledger ------------------------------------------------------------------------------


def ledger_record(sender, record, context=None, **kwargs) -> None:
    """``taisly_call`` receiver: complete the governor's reservation, or record a bare call."""
    fields = {
        "status": record.status,
        "error_code": (record.error_code or "")[:64],
        "duration_ms": max(0, record.duration_ms),
        "endpoint": record.endpoint[:64],
        "done": True,
    }
    row_id = _reservation.get()
    if row_id is not None:
        TaislyRequest.objects.filter(pk=row_id).update(**fields)
        return
    connection = context if isinstance(context, TaislyConnection) else None
    TaislyRequest.objects.create(
        connection=connection,
        fingerprint=connection.key_fingerprint if connection is not None else "",
        kind=_kind.get(),
        started_at=record.started_at,
        **fields,
    )


def connect_ledger() -> None:
    taisly_call.connect(ledger_record, dispatch_uid="posting.taisly.governor.ledger_record")


def ledger_prune(*, now: datetime | None = None) -> int:
    """Delete ledger rows older than ``LEDGER_RETAIN_DAYS``; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.LEDGER_RETAIN_DAYS)
    deleted, _detail = TaislyRequest.objects.filter(started_at__lt=cutoff).delete()
    return deleted


def ensure_fingerprint(connection: TaislyConnection, api_key: str) -> None:
    """Store the fingerprint of a connection's key if it lacks one (rows from before
    fingerprints, or one the backfill could not decrypt then)."""
    fingerprint = key_fingerprint(api_key)
    if fingerprint and connection.key_fingerprint != fingerprint:
        TaislyConnection.objects.filter(pk=connection.pk).update(key_fingerprint=fingerprint)
        connection.key_fingerprint = fingerprint


def sharing_workspaces(connection: TaislyConnection):
    """The other workspaces whose connection holds the same key (active or blocked)."""
    if not connection.key_fingerprint:
        return Workspace.objects.none()
    return Workspace.objects.filter(
        taisly_connection__key_fingerprint=connection.key_fingerprint,
        taisly_connection__status=TaislyConnection.Status.ACTIVE,
    ).exclude(pk=connection.workspace_id)
