"""The one way in to workspace-owned things.

Every view that touches a workspace or anything inside one goes through these helpers:
- an outsider gets 404 (we do not confirm that the thing exists),
- a member without write rights gets 403 from the ``_rw`` variants,
- staff get read access everywhere (oversight), never write access unless they are members.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from accounts.models import Membership, Workspace
from posting.models import Post, RepostRule


@dataclass(frozen=True)
class WorkspaceAccess:
    workspace: Workspace
    membership: Membership | None  # None when a staff member looks in without being a member

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


def get_workspace_for_user(request: HttpRequest, code) -> WorkspaceAccess:
    """The workspace with this code, if the user is a member or staff; else 404."""
    user = request.user
    if not user.is_authenticated:
        raise Http404
    try:
        # A str that is not a UUID would make the ORM raise ValidationError (a 500), not 404.
        code = code if isinstance(code, uuid.UUID) else uuid.UUID(str(code))
    except ValueError:
        raise Http404 from None
    # Members (everyone but staff looking in): the membership and its workspace in one query.
    membership = (
        Membership.objects.select_related("workspace")
        .filter(workspace__code=code, user=user)
        .first()
    )
    if membership is not None:
        return WorkspaceAccess(workspace=membership.workspace, membership=membership)
    workspace = Workspace.objects.filter(code=code).first() if user.is_staff else None
    if workspace is None:
        raise Http404
    return WorkspaceAccess(workspace=workspace, membership=None)


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


def _uuid_or_404(value) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise Http404 from None


def get_post_for_user(request: HttpRequest, code, post_code) -> tuple[Post, WorkspaceAccess]:
    """The post ``post_code`` of workspace ``code`` and the user's access; 404 for outsiders and
    for a post of another workspace. Two queries: the access check, then the post (with its
    author)."""
    access = get_workspace_for_user(request, code)
    post = (
        Post.objects.select_related("author")
        .filter(workspace=access.workspace, code=_uuid_or_404(post_code))
        .first()
    )
    if post is None:
        raise Http404
    post.workspace = access.workspace
    return post, access


def get_post_for_user_rw(request: HttpRequest, code, post_code) -> tuple[Post, WorkspaceAccess]:
    """As ``get_post_for_user``, and 403 unless the user may write (owner or editor)."""
    post, access = get_post_for_user(request, code, post_code)
    if not access.can_write:
        raise PermissionDenied
    return post, access


def get_repost_rule_for_user(
    request: HttpRequest, code, rule_id: str
) -> tuple[RepostRule, WorkspaceAccess]:
    """The repost rule with Taisly id ``rule_id`` (rules have no code of their own) of workspace
    ``code``, and the user's access; 404 for outsiders and for a rule of another workspace."""
    access = get_workspace_for_user(request, code)
    rule = (
        RepostRule.objects.select_related("from_platform")
        .filter(workspace=access.workspace, taisly_id=str(rule_id)[:64])
        .first()
    )
    if rule is None:
        raise Http404
    return rule, access


def get_repost_rule_for_user_rw(
    request: HttpRequest, code, rule_id: str
) -> tuple[RepostRule, WorkspaceAccess]:
    """As ``get_repost_rule_for_user``, and 403 unless the user may write (owner or editor)."""
    rule, access = get_repost_rule_for_user(request, code, rule_id)
    if not access.can_write:
        raise PermissionDenied
    return rule, access
