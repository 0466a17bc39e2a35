"""The Taisly API client. Import from here: ``from posting.taisly import TaislyClient``."""

from .client import TaislyClient, guess_content_type, unix_ms
from .errors import (
    TaislyAuthError,
    TaislyError,
    TaislyForbidden,
    TaislyProtocolError,
    TaislyRateLimited,
    TaislyRejected,
    TaislyServerError,
    TaislyUnavailable,
)
from .signals import taisly_call
from .types import (
    CallRecord,
    CreatedPost,
    GeneratedKey,
    HistoryPage,
    HistoryPost,
    KeyInfo,
    Platform,
    PostResult,
    RepostRule,
    key_hint,
)

__all__ = [
    "CallRecord",
    "CreatedPost",
    "GeneratedKey",
    "HistoryPage",
    "HistoryPost",
    "KeyInfo",
    "Platform",
    "PostResult",
    "RepostRule",
    "TaislyAuthError",
    "TaislyClient",
    "TaislyError",
    "TaislyForbidden",
    "TaislyProtocolError",
    "TaislyRateLimited",
    "TaislyRejected",
    "TaislyServerError",
    "TaislyUnavailable",
    "guess_content_type",
    "key_hint",
    "taisly_call",
    "unix_ms",
]
