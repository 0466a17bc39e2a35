"""The audit log: writing it (services call ``audit_record``; views never write events
themselves) and reading it (the workspace's log and staff oversight share ``AUDIT_PAGE_SIZE``
and ``audit_rows``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

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


#: Short names of the approval workflows (Workspace.ApprovalWorkflow codes), for a change's
#: "from → to"; the settings page's own labels are sentences.
WORKFLOW_WORDS = {
    "none": gettext_lazy("No review"),
    "internal": gettext_lazy("Internal review"),
    "client": gettext_lazy("Client review"),
    "internal_client": gettext_lazy("Internal, then the client"),
}

#: A review stage inside a sentence ("Post submitted for review (internal review)").
STAGE_WORDS = {
    "internal": gettext_lazy("internal review"),
    "client": gettext_lazy("client review"),
}

A = AuditEvent.Action


def _what(event: AuditEvent, details: dict) -> str:
    """The action in words; a review decision says at which stage it was made."""
    stage = details.get("stage")
    if event.action == A.REVIEW_APPROVED and stage == "client":
        return _("Approved for the client")
    if event.action == A.REVIEW_APPROVED and stage == "internal":
        return _("Approved (internal review)")
    if event.action == A.REVIEW_CHANGES_REQUESTED and stage == "client":
        return _("Changes requested by the client")
    if event.action == A.REVIEW_CHANGES_REQUESTED and stage == "internal":
        return _("Changes requested (internal review)")
    if event.action == A.REVIEW_SUBMITTED and stage in STAGE_WORDS:
        return _("Post submitted for review (%(stage)s)") % {"stage": STAGE_WORDS[stage]}
    return event.get_action_display()


def audit_rows(events) -> list[AuditEvent]:
    """Audit events with ``change`` (the role, or from → to, from their details, in words),
    ``what`` (the action, with a review's stage) and ``who`` (the member, or the address of
    the review link that decided). From the rows alone: no query."""
    labels = dict(Membership.Role.choices)

    def word(value, names) -> str:
        # Details hold roles, platform names, or lists of them (a repost rule's targets).
        if isinstance(value, list):
            return ", ".join(word(item, names) for item in value)
        return str(names.get(value, value)) if isinstance(value, str) else str(value)

    rows = list(events)
    for event in rows:
        details = event.details if isinstance(event.details, dict) else {}
        names = WORKFLOW_WORDS if event.action == A.WORKSPACE_APPROVAL_WORKFLOW else labels
        if "from" in details and "to" in details:
            event.change = f"{word(details['from'], names)} → {word(details['to'], names)}"
        elif "role" in details:
            event.change = word(details["role"], names)
        else:
            event.change = ""
        event.what = _what(event, details)
        address = details.get("address")
        if event.actor_email:
            event.who = event.actor_email
        elif isinstance(address, str) and address:
            event.who = _("%(address)s (review link)") % {"address": address}
        else:
            event.who = ""
    return rows
