"""The audit log: writing it (services call ``audit_record``; views never write events
themselves) and reading it (the workspace's log and staff oversight share ``AUDIT_PAGE_SIZE``
and ``audit_rows``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.models import AuditEvent, Membership, User, Workspace
from accounts.taisly_key import scrub

#: Events on one page of an audit log (the workspace's own, and staff oversight's).
AUDIT_PAGE_SIZE = 50


def _scrub(value: Any) -> Any:
    # A last line of defence: callers never pass secrets, but a key-like string is cut anyway
    # (to its hint), by the same definition of a key the connect form and the client use.
    if isinstance(value, str):
        return scrub(value)
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


def audit_rows(events) -> list[AuditEvent]:
    """Audit events with ``change``: the role (or from → to) from their details, in words."""
    labels = dict(Membership.Role.choices)

    def word(value) -> str:
        # Details hold roles, platform names, or lists of them (a repost rule's targets).
        if isinstance(value, list):
            return ", ".join(word(item) for item in value)
        return str(labels.get(value, value)) if isinstance(value, str) else str(value)

    rows = list(events)
    for event in rows:
        details = event.details or {}
        if "from" in details and "to" in details:
            event.change = f"{word(details['from'])} → {word(details['to'])}"
        elif "role" in details:
            event.change = word(details["role"])
        else:
            event.change = ""
    return rows
