"""The JSON shapes the sandbox answers with. Keep them: the dashboard's client reads these."""

from __future__ import annotations

from datetime import datetime

from sandbox import clock
from sandbox.models import Account, ApiKey, Platform, Post, RepostRule
from sandbox.services import result_status


def key_info(key: ApiKey) -> dict:
    return {
        "plan": key.account.plan,
        "keyHint": key.hint,
        "createdAt": clock.iso(key.created_at),
        "lastUsedAt": clock.iso(key.last_used_at),
        "rateLimit": key.account.rate_limit,
    }


def key_issued(key: ApiKey, plaintext: str) -> dict:
    return {
        "apiKey": plaintext,
        "keyHint": key.hint,
        "plan": key.account.plan,
        "createdAt": clock.iso(key.created_at),
    }


def platform(item: Platform) -> dict:
    return {
        "_id": item.object_id,
        "platform": item.network,
        "name": item.name,
        "avatar": item.avatar or None,
        "connected": item.connected,
    }


def account_created(account: Account, plaintext: str) -> dict:
    """What `manage.py sandbox_account` prints and POST /control/accounts answers."""
    return {
        "api_key": plaintext,
        "plan": account.plan,
        "platforms": [platform(item) for item in account.platforms.all()],
    }


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def post(item: Post, now: datetime) -> dict:
    return {
        "id": item.object_id,
        "description": item.description,
        "date": clock.iso(item.due_at),
        "createdAt": clock.iso(item.created_at),
        "scheduled": item.scheduled,
        "scheduledAt": item.scheduled_at_ms,
        "previewTime": _number(item.preview_time),
        "result": [post_result(result, item, now) for result in item.results.all()],
    }


def post_result(result, item: Post, now: datetime) -> dict:
    status, message = result_status(result, item, now)
    return {
        "platformId": result.platform.object_id,
        "platform": result.platform.network,
        "status": status,
        "message": message,
        "repostOf": result.repost_of.object_id if result.repost_of else None,
    }


def post_created(item: Post, now: datetime) -> dict:
    """Create post answers at the top level, not under `data` (as the Agent Kit shows)."""
    return {
        "success": True,
        "historyId": item.object_id,
        "scheduled": item.scheduled,
        "date": clock.iso(item.due_at),
        "result": [post_result(result, item, now) for result in item.results.all()],
    }


def repost_rule(rule: RepostRule) -> dict:
    return {
        "_id": rule.object_id,
        "from": rule.from_platform.object_id,
        "to": list(rule.to_ids),
        "isPaused": rule.is_paused,
        "createdAt": clock.iso(rule.created_at),
    }
