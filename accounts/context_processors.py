"""What the navigation needs on every page: the user's workspaces and the one in the URL."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.access import user_memberships
from accounts.models import Membership, Workspace


@dataclass(frozen=True)
class Navigation:
    memberships: list[Membership]
    current: Workspace | None  # the workspace named in the URL, if the user may see it
    role: str | None  # the user's role there; None for staff looking in
    is_owner: bool
    can_write: bool
    #: Owns a client workspace: "New client workspace" is what such a person makes. Anyone may
    #: make a workspace of their own; for everyone else it reads "New workspace".
    is_agency: bool


def _navigation(request: HttpRequest) -> Navigation:
    user = request.user
    memberships = user_memberships(request)
    match = getattr(request, "resolver_match", None)
    code = match.kwargs.get("code") if match else None
    current, role = None, None
    if code is not None:
        for membership in memberships:
            if membership.workspace.code == code:
                current, role = membership.workspace, membership.role
                break
        else:
            if user.is_staff:  # staff read everywhere; outsiders learn nothing here
                current = Workspace.objects.filter(code=code).first()
    return Navigation(
        memberships=memberships,
        current=current,
        role=role,
        is_owner=role == Membership.Role.OWNER,
        can_write=role in (Membership.Role.OWNER, Membership.Role.EDITOR),
        is_agency=any(
            m.role == Membership.Role.OWNER and m.workspace.kind == Workspace.Kind.CLIENT
            for m in memberships
        ),
    )


def _email_unverified(request: HttpRequest) -> bool:
    """From the session (set at log-in and on verification), so the banner costs no query;
    a session from before addresses were verified asks the database once."""
    from accounts.signals import EMAIL_VERIFIED_SESSION_KEY, remember_email_verified

    if EMAIL_VERIFIED_SESSION_KEY not in request.session:
        remember_email_verified(request, request.user)
    return not request.session[EMAIL_VERIFIED_SESSION_KEY]


def workspaces(request: HttpRequest) -> dict:
    context = {"signup_open": settings.ACCOUNT_SIGNUP_OPEN}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        context["nav"] = SimpleLazyObject(lambda: _navigation(request))
        context["email_unverified"] = SimpleLazyObject(lambda: _email_unverified(request))
    return context
