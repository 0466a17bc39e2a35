"""The one way in to workspace-owned things.

Every view that touches a workspace or anything inside one goes through these helpers:
- an outsider gets 404 (we do not confirm that the thing exists),
- a member without write rights gets 403 from the ``_rw`` variants,
- staff get read access everywhere (oversight), never write access unless they are members;
  being a member (a viewer, say) never takes a staff member's read access away (in production
  that read access needs two-factor sign-in, as oversight does);
- a member of a workspace that requires two-factor sign-in, and staff in production, are sent
  to set it up first (``TwoFactorRequired``, turned into a redirect by
  ``accounts.middleware.TwoFactorRequiredMiddleware``).

The view's check only decides what page to show. Services that change a workspace decide for
themselves with ``lock_actor_role``: the actor's membership row is locked and read again inside
the transaction that acts, so a request that passed the view's check a moment before its owner
was demoted is refused, with the same 403 the view gives.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, Q
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _

from accounts.models import Membership, User, Workspace

Role = Membership.Role


class RoleRequired(PermissionDenied):
    """A service refused an actor whose role (now, under lock) does not allow the action.

    A ``PermissionDenied``, so a view that lets it through answers the same 403 page as its own
    early check; ``message`` is that page's sentence, for callers that show it themselves.
    """

    def __init__(self) -> None:
        # The 403 page's own sentence (templates/403.html).
        self.message = _(
            "You can see this workspace, but this page is for members with more rights. Ask one "
            "of its owners if you need it."
        )
        super().__init__(self.message)


def lock_actor_role(
    *, workspace: Workspace, actor: User, roles: tuple[str, ...] = (Role.OWNER,)
) -> Membership:
    """Lock ``actor``'s membership of ``workspace`` and return it if its role is in ``roles``.

    Must run inside the ``transaction.atomic()`` block that acts: the row stays locked until it
    commits, so a concurrent demotion either finished before (and is seen here) or waits until
    the action is done. Raises ``RoleRequired`` otherwise (also when the actor is no member:
    staff looking in never write).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_actor_role must run inside the transaction that acts")
    membership = (
        Membership.objects.select_for_update()
        .filter(workspace=workspace, user_id=getattr(actor, "pk", None))
        .first()
    )
    if membership is None or membership.role not in roles:
        raise RoleRequired
    return membership


def lock_writer(*, workspace: Workspace, actor: User) -> Membership:
    """``lock_actor_role`` for the writers' actions (owners and editors): posts, repost rules."""
    return lock_actor_role(workspace=workspace, actor=actor, roles=(Role.OWNER, Role.EDITOR))


def lock_member(*, workspace: Workspace, actor: User) -> Membership:
    """``lock_actor_role`` for a member's own choices (any role, a viewer too): marking alerts
    read, their alert emails. Staff looking in are no members and are refused."""
    return lock_actor_role(workspace=workspace, actor=actor, roles=tuple(Role.values))


class TwoFactorRequired(Exception):
    """The user must turn on two-factor sign-in before opening this page."""

    def __init__(self, workspace: Workspace | None = None) -> None:
        super().__init__(workspace)
        self.workspace = workspace  # None: staff, for oversight


def require_staff_two_factor(request: HttpRequest) -> None:
    """Staff always need two-factor sign-in in production (``STAFF_REQUIRE_2FA``)."""
    if settings.STAFF_REQUIRE_2FA and not is_mfa_enabled(request.user):
        raise TwoFactorRequired()


@dataclass(frozen=True)
class WorkspaceAccess:
    workspace: Workspace
    membership: Membership | None  # None when a staff member looks in without being a member
    #: The user is staff: reads everything here, whatever their membership says.
    staff: bool = False

    @property
    def role(self) -> str | None:
        return self.membership.role if self.membership else None

    @property
    def can_write(self) -> bool:
        return bool(self.membership and self.membership.can_write)

    @property
    def is_owner(self) -> bool:
        return bool(self.membership and self.membership.is_owner)

    @property
    def is_staff_view(self) -> bool:
        return self.membership is None

    @property
    def reads_all(self) -> bool:
        """May read the owners' pages (audit log, pending invitations): owners and staff."""
        return self.is_owner or self.staff


_MEMBERSHIPS = "_taisly_memberships"


def user_memberships(request: HttpRequest) -> list[Membership]:
    """The logged-in user's memberships with their workspaces, in the navigation's order; read
    once per request (the access check and the navigation both need them)."""
    user_id, memberships = getattr(request, _MEMBERSHIPS, (None, None))
    # Kept with the user they belong to: a log-in or log-out within the request reads afresh.
    if memberships is None or user_id != request.user.pk:
        memberships = list(
            Membership.objects.filter(user=request.user)
            .select_related("workspace")
            .order_by("workspace__kind", "workspace__name", "workspace__id")
        )
        setattr(request, _MEMBERSHIPS, (request.user.pk, memberships))
    return memberships


def get_workspace_for_user(request: HttpRequest, code) -> WorkspaceAccess:
    """The workspace with this code, if the user is a member or staff; else 404."""
    user = request.user
    if not user.is_authenticated:
        raise Http404
    code = uuid_or_404(code)
    # Members (everyone but staff looking in): found among the user's memberships, read with
    # their workspaces in one query that the navigation reuses (``user_memberships``).
    membership = next((m for m in user_memberships(request) if m.workspace.code == code), None)
    if membership is not None:
        # Only such workspaces pay the query for the user's authenticators.
        if membership.workspace.require_2fa and not is_mfa_enabled(user):
            raise TwoFactorRequired(membership.workspace)
        # Staff reads beyond the membership's role are oversight: in production they need
        # two-factor sign-in like every other oversight page (without it: the member's role only).
        staff = user.is_staff and (not settings.STAFF_REQUIRE_2FA or is_mfa_enabled(user))
        return WorkspaceAccess(workspace=membership.workspace, membership=membership, staff=staff)
    workspace = Workspace.objects.filter(code=code).first() if user.is_staff else None
    if workspace is None:
        raise Http404
    require_staff_two_factor(request)  # staff looking in is oversight
    return WorkspaceAccess(workspace=workspace, membership=None, staff=True)


def two_factor_locked(user: User, *, workspace: str = "") -> Q:
    """The workspaces ``user`` may not open until they turn on two-factor sign-in (the ones that
    require it, while the user has none), as a condition on Workspace, or on a model that points
    at one through the path ``workspace``. Lists of several workspaces use it to show such a
    workspace as locked, with none of its figures, in the query they run anyway (the same rule
    as ``get_workspace_for_user``, which refuses to open it)."""
    prefix = f"{workspace}__" if workspace else ""
    return Q(**{f"{prefix}require_2fa": True}) & ~Exists(
        Authenticator.objects.filter(user_id=user.pk)
    )


def two_factor_locked_ids(user: User, memberships: list[Membership]) -> set[int]:
    """The ids of the workspaces among ``memberships`` that ``user`` may not open until they turn
    on two-factor sign-in (``two_factor_locked`` for a list already read): the user's
    authenticators are read only when one of them asks for it."""
    asking = {m.workspace_id for m in memberships if m.workspace.require_2fa}
    if not asking or is_mfa_enabled(user):
        return set()
    return asking


def get_workspace_for_user_rw(request: HttpRequest, code) -> WorkspaceAccess:
    """As ``get_workspace_for_user``, and 403 unless the user may write (owner or editor)."""
    access = get_workspace_for_user(request, code)
    if not access.can_write:
        raise PermissionDenied
    return access


def get_workspace_for_owner(request: HttpRequest, code) -> WorkspaceAccess:
    """As ``get_workspace_for_user``, and 403 unless the user owns the workspace."""
    access = get_workspace_for_user(request, code)
    if not access.is_owner:
        raise PermissionDenied
    return access


def get_workspace_for_member(request: HttpRequest, code) -> WorkspaceAccess:
    """As ``get_workspace_for_user``, and 403 for staff looking in without being members: what
    is a member's own (their alerts read, their alert emails) is not for staff to act on."""
    access = get_workspace_for_user(request, code)
    if access.membership is None:
        raise PermissionDenied
    return access


def uuid_or_404(value) -> uuid.UUID:
    """``value`` as a UUID; 404 when it is not one (the ORM would raise ValidationError, a 500)."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise Http404 from None
