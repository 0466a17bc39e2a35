"""Tolerant reading of Taisly's answers into the types in ``types.py``.

Taisly's documentation gives few response shapes; the Agent Kit shows several alternatives for the
same thing (``_id`` or ``id``, ``platform`` or ``identifier``, a list in ``data`` or at the top
level). Each reader accepts all of them and raises ``_Malformed`` (turned into
``TaislyProtocolError`` by the client) when what the caller needs is missing or unreadable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .types import (
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

# Below this a number cannot be unix milliseconds of a plausible date (it would be before 1973),
# but as seconds it is any date up to the year 5138: read it as seconds.
_SECONDS_BELOW = 100_000_000_000

_LIST_KEYS = ("data", "items", "results", "posts", "platforms", "reposts", "rules", "history")


class Malformed(Exception):
    """The answer lacks what is needed; the client turns it into TaislyProtocolError."""


def first(item: Mapping[str, Any], *keys: str) -> Any:
    """The first of ``keys`` present in ``item`` with a value other than None."""
    for key in keys:
        value = item.get(key)
        if value is not None:
            return value
    return None


def payload(body: Any) -> Mapping[str, Any]:
    """The object holding the fields: ``data`` when it is an object, else the body itself."""
    if isinstance(body, Mapping):
        data = body.get("data")
        return data if isinstance(data, Mapping) else body
    raise Malformed("expected a JSON object")


def items(body: Any, *extra_keys: str) -> list[Mapping[str, Any]]:
    """The list in an answer: the body itself, or under ``data`` (or a similar key)."""
    found: Any = None
    if isinstance(body, list):
        found = body
    elif isinstance(body, Mapping):
        for key in (*_LIST_KEYS, *extra_keys):
            if isinstance(body.get(key), list):
                found = body[key]
                break
        else:
            data = body.get("data")
            if isinstance(data, Mapping):
                return items(data, *extra_keys)
    if found is None:
        raise Malformed("expected a list")
    if not all(isinstance(entry, Mapping) for entry in found):
        raise Malformed("expected a list of objects")
    return found


def text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    raise Malformed(f"expected a string, got {type(value).__name__}")


def required_id(item: Mapping[str, Any], *keys: str) -> str:
    value = text(first(item, *keys))
    if not value:
        raise Malformed(f"missing {' / '.join(keys)}")
    return value


def boolean(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise Malformed(f"expected a boolean, got {value!r}")


def number(value: Any, default: float | None = None) -> float | None:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise Malformed("expected a number, got a boolean")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise Malformed(f"expected a number, got {value!r}") from None
    if not math.isfinite(result):
        raise Malformed(f"expected a finite number, got {value!r}")
    return int(result) if result.is_integer() else result


def integer(value: Any) -> int | None:
    result = number(value)
    return None if result is None else int(result)


def timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 string or unix milliseconds (number or digits)."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and not value.strip().lstrip("-").replace(".", "", 1).isdigit():
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise Malformed(f"unreadable time {value!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)  # Taisly stores UTC; a bare time means UTC
        return parsed.astimezone(UTC)
    moment = number(value)
    assert moment is not None
    seconds = moment if abs(moment) < _SECONDS_BELOW else moment / 1000
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise Malformed(f"time out of range {value!r}") from None


def key_info(body: Any) -> KeyInfo:
    data = payload(body)
    plan = text(first(data, "plan", "planName"))
    if not plan:
        raise Malformed("missing plan")
    return KeyInfo(
        plan=plan,
        key_hint=text(first(data, "keyHint", "hint", "maskedKey")) or "",
        created_at=timestamp(first(data, "createdAt", "created_at")),
        last_used_at=timestamp(first(data, "lastUsedAt", "last_used_at")),
        rate_limit=integer(first(data, "rateLimit", "rate_limit")),
    )


def generated_key(body: Any) -> GeneratedKey:
    data = payload(body)
    api_key = text(first(data, "apiKey", "api_key", "key"))
    if not api_key:
        raise Malformed("missing apiKey")
    return GeneratedKey(
        api_key=api_key,
        key_hint=text(first(data, "keyHint", "hint")) or key_hint(api_key),
        plan=text(data.get("plan")),
        created_at=timestamp(first(data, "createdAt", "created_at")),
    )


def platform(item: Mapping[str, Any]) -> Platform:
    return Platform(
        id=required_id(item, "_id", "id"),
        network=text(first(item, "platform", "identifier", "accountType")) or "",
        name=text(first(item, "name", "username", "displayName", "accountName")) or "",
        avatar=text(first(item, "avatar", "picture", "avatarUrl")),
        # The endpoint lists connected accounts; only an explicit false says otherwise.
        connected=boolean(item.get("connected"), default=True),
        raw=dict(item),
    )


def platforms(body: Any) -> tuple[Platform, ...]:
    return tuple(platform(item) for item in items(body))


def post_result(item: Mapping[str, Any]) -> PostResult:
    status = text(item.get("status"))
    if not status:
        raise Malformed("result without status")
    return PostResult(
        platform_id=text(first(item, "platformId", "platform_id", "_id", "id")),
        network=text(first(item, "platform", "identifier", "accountType")),
        status=status.upper(),
        message=text(first(item, "message", "error", "detailMessage")),
        repost_of=text(first(item, "repostOf", "repost_of")),
    )


def post_results(item: Mapping[str, Any]) -> tuple[PostResult, ...]:
    results = first(item, "result", "results")
    if results is None:
        return ()
    if not isinstance(results, list) or not all(isinstance(r, Mapping) for r in results):
        raise Malformed("result is not a list of objects")
    return tuple(post_result(r) for r in results)


def created_post(body: Any, *, asked_scheduled: bool) -> CreatedPost:
    if not isinstance(body, Mapping):
        raise Malformed("expected a JSON object")
    # The Agent Kit reads these at the top level; `data` is the fallback for the other shape.
    data = body.get("data")
    merged = {**data, **body} if isinstance(data, Mapping) else body
    post_id = text(first(body, "historyId", "id")) or (
        text(first(data, "historyId", "id")) if isinstance(data, Mapping) else None
    )
    if not post_id:
        raise Malformed("missing historyId")
    return CreatedPost(
        id=post_id,
        scheduled=boolean(merged.get("scheduled"), default=asked_scheduled),
        date=timestamp(merged.get("date")),
        results=post_results(merged),
    )


def history_post(item: Mapping[str, Any]) -> HistoryPost:
    scheduled_at = timestamp(first(item, "scheduledAt", "scheduled_at", "scheduledTime"))
    scheduled = item.get("scheduled")
    # `scheduled` is sometimes the time itself rather than a flag.
    if scheduled is not None and not isinstance(scheduled, bool) and scheduled_at is None:
        scheduled_at = timestamp(scheduled)
        scheduled = True
    return HistoryPost(
        id=required_id(item, "id", "_id", "historyId"),
        description=text(first(item, "description", "caption")) or "",
        date=timestamp(item.get("date")),
        created_at=timestamp(first(item, "createdAt", "created_at")),
        scheduled=boolean(scheduled, default=scheduled_at is not None),
        scheduled_at=scheduled_at,
        preview_time=number(first(item, "previewTime", "preview_time"), default=0),
        results=post_results(item),
    )


def history_page(body: Any, *, page: int) -> HistoryPage:
    meta = body if isinstance(body, Mapping) else {}
    if isinstance(meta.get("pagination"), Mapping):
        meta = {**meta, **meta["pagination"]}
    return HistoryPage(
        posts=history_posts(body),
        page=integer(meta.get("page")) or page,
        total_pages=integer(first(meta, "totalPages", "total_pages", "pages")),
        total=integer(first(meta, "total", "totalCount", "count")),
    )


def history_posts(body: Any) -> tuple[HistoryPost, ...]:
    return tuple(history_post(item) for item in items(body))


def repost_rule(item: Mapping[str, Any]) -> RepostRule:
    source = text(first(item, "from", "fromPlatform", "from_platform"))
    targets = first(item, "to", "toPlatforms", "to_platforms")
    if not source:
        raise Malformed("rule without from")
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, list):
        raise Malformed("rule without a to list")
    return RepostRule(
        id=required_id(item, "_id", "id"),
        from_platform=source,
        to_platforms=tuple(t for t in (text(t) for t in targets) if t),
        paused=boolean(first(item, "isPaused", "paused"), default=False),
        created_at=timestamp(first(item, "createdAt", "created_at")),
    )


def repost_rules(body: Any) -> tuple[RepostRule, ...]:
    return tuple(repost_rule(item) for item in items(body))


def single_rule(body: Any) -> RepostRule:
    if isinstance(body, Mapping) and isinstance(body.get("rule"), Mapping):
        return repost_rule(body["rule"])
    return repost_rule(payload(body))
