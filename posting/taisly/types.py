"""What the Taisly client returns: small frozen dataclasses, never raw dicts.

Every datetime is aware and in UTC. ``raw`` fields keep the item as Taisly sent it, for debugging
and for fields the client does not model yet; they stay out of ``repr`` and equality.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from accounts.taisly_key import key_hint as key_hint  # re-exported: it lived here first


@dataclass(frozen=True)
class KeyInfo:
    plan: str
    key_hint: str
    created_at: datetime | None
    last_used_at: datetime | None
    #: Requests per hour, when Taisly says (the sandbox does; the docs give it per plan).
    rate_limit: int | None = None


@dataclass(frozen=True)
class GeneratedKey:
    api_key: str = field(repr=False)
    key_hint: str
    plan: str | None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Platform:
    id: str
    network: str
    name: str
    avatar: str | None
    connected: bool
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class PostResult:
    """One platform's outcome for a post: PENDING, SUCCESS or FAILED (``message`` = the code)."""

    platform_id: str | None
    network: str | None
    status: str
    message: str | None = None
    #: The post this one was auto-reposted from, when it was.
    repost_of: str | None = None


@dataclass(frozen=True)
class CreatedPost:
    id: str
    scheduled: bool
    date: datetime | None
    results: tuple[PostResult, ...]


@dataclass(frozen=True)
class HistoryPost:
    id: str
    description: str
    #: When it goes (or went) out: the scheduled time, or the creation time for "post now".
    date: datetime | None
    created_at: datetime | None
    scheduled: bool
    scheduled_at: datetime | None
    preview_time: float
    results: tuple[PostResult, ...]


@dataclass(frozen=True)
class HistoryPage:
    posts: tuple[HistoryPost, ...]
    page: int
    #: None when Taisly does not say.
    total_pages: int | None
    total: int | None

    @property
    def has_next(self) -> bool:
        return self.total_pages is not None and self.page < self.total_pages


@dataclass(frozen=True)
class RepostRule:
    id: str
    from_platform: str
    to_platforms: tuple[str, ...]
    paused: bool
    created_at: datetime | None


@dataclass(frozen=True)
class CallRecord:
    """One Taisly call, as sent with the ``taisly_call`` signal (for the quota ledger)."""

    #: Method and path, without base URL or query: ``"POST /post"``.
    endpoint: str
    #: HTTP status, or None when no answer came (timeout, connection error).
    status: int | None
    duration_ms: int
    started_at: datetime
    #: None on success; Taisly's code (``RATE_LIMITED``) or a stand-in (``TIMEOUT``) on failure.
    error_code: str | None = None
