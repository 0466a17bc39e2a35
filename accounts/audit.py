"""Writing the audit log. Services call ``audit_record``; views never write events themselves."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest

from accounts.models import AuditEvent, User, Workspace

_KEY_LIKE = re.compile(r"taisly_[0-9a-fA-F]{16,}")


def _scrub(value: Any) -> Any:
    # A last line of defence: callers never pass secrets, but a key-like string is cut anyway.
    if isinstance(value, str):
        return _KEY_LIKE.sub("taisly_[redacted]", value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    workspace: Workspace | None,
    actor: User | None,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    actor = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        workspace=workspace,
        workspace_name=workspace.name if workspace else "",
        actor=actor,
        actor_email=actor.email if actor else "",
        action=action,
        target=_scrub(target)[:200],
        details=_scrub(details or {}),
        ip=client_ip(request),
    )
