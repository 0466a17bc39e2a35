"""Business actions on people and workspaces. Views parse and render; these decide.

Every function is keyword-only. Rule violations raise ``django.core.exceptions.ValidationError``
with a sentence meant for the person who tried. Each change to a workspace writes an
``AuditEvent`` through ``accounts.audit.audit_record``.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import secrets
import smtplib
import uuid
from dataclasses import dataclass
from datetime import timedelta

from allauth.account.models import EmailAddress
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import AuditEvent, Invitation, Membership, User, Workspace

logger = logging.getLogger(__name__)

Role = Membership.Role
ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}


def _last_owner_error() -> ValidationError:
    return ValidationError(
        _("A workspace always keeps at least one owner. Make someone else an owner first."),
        code="last_owner",
    )


# --- People ---------------------------------------------------------------------------------


def email_verified(*, user: User, email: str | None = None) -> bool:
    """Whether ``user`` has verified ``email`` (default: their own address).

    An account made before addresses were verified has no EmailAddress row yet; allauth makes one
    when it first sends a link. Until then the address counts as unverified, as it is.
    """
    email = email if email is not None else user.email
    return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()


def profile_update(*, user: User, display_name: str, timezone_name: str, language: str) -> User:
    user.display_name = display_name.strip()
    user.timezone = timezone_name
    user.language = language
    user.save(update_fields=["display_name", "timezone", "language"])
    return user


def user_set_language(*, user: User, language: str) -> None:
    if language in dict(settings.LANGUAGES) and user.language != language:
        user.language = language
        user.save(update_fields=["language"])


# --- Workspaces -----------------------------------------------------------------------------


def workspace_create(
    *,
    name: str,
    owner: User,
    kind: str = Workspace.Kind.CLIENT,
    request: HttpRequest | None = None,
) -> Workspace:
    """A new workspace with ``owner`` as its first owner."""
    with transaction.atomic():
        workspace = Workspace.objects.create(name=name, kind=kind, created_by=owner)
        Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
        audit_record(
            workspace=workspace,
            actor=owner,
            action=AuditEvent.Action.WORKSPACE_CREATED,
            target=name,
            details={"kind": kind},
            request=request,
        )
    return workspace


def workspace_create_personal(*, user: User) -> Workspace:
    """The workspace every account starts with, named after its owner."""
    return workspace_create(
        name=user.get_short_name()[:100], owner=user, kind=Workspace.Kind.PERSONAL
    )


def workspace_rename(
    *, workspace: Workspace, name: str, actor: User, request: HttpRequest | None = None
) -> Workspace:
    old = workspace.name
    if old == name:
        return workspace
    workspace.name = name
    workspace.save(update_fields=["name"])
    audit_record(
        workspace=workspace,
        actor=actor,
        action=AuditEvent.Action.WORKSPACE_RENAMED,
        target=name,
        details={"from": old, "to": name},
        request=request,
    )
    return workspace


def workspace_set_require_2fa(
    *, workspace: Workspace, required: bool, actor: User, request: HttpRequest | None = None
) -> Workspace:
    """Require (or stop requiring) two-factor sign-in of every member. Owners only; an owner
    turns it on for themselves first, so that requiring it never locks them out."""
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update()
            .filter(workspace=workspace, user=actor, role=Role.OWNER)
            .first()
        )
        if membership is None:
            raise ValidationError(
                _("Only an owner of this workspace can change this."), code="not_owner"
            )
        locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
        if locked.require_2fa == required:
            return locked
        if required and not is_mfa_enabled(actor):
            raise ValidationError(
                _("Turn on two-factor sign-in for yourself first, then require it of everyone."),
                code="owner_without_2fa",
            )
        locked.require_2fa = required
        locked.save(update_fields=["require_2fa"])
        audit_record(
            workspace=locked,
            actor=actor,
            action=(
                AuditEvent.Action.WORKSPACE_2FA_REQUIRED
                if required
                else AuditEvent.Action.WORKSPACE_2FA_OPTIONAL
            ),
            target=locked.name,
            request=request,
        )
    workspace.require_2fa = required
    return locked


def workspace_delete(
    *, workspace: Workspace, actor: User, request: HttpRequest | None = None
) -> None:
    """Delete a client workspace with everything in it. Personal workspaces stay."""
    if workspace.kind == Workspace.Kind.PERSONAL:
        raise ValidationError(
            _("A personal workspace cannot be deleted; rename it instead."), code="personal"
        )
    with transaction.atomic():
        # Recorded first; deleting the workspace keeps the event (its name is copied into it).
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditEvent.Action.WORKSPACE_DELETED,
            target=workspace.name,
            details={"code": str(workspace.code)},
            request=request,
        )
        workspace.delete()


# --- Members --------------------------------------------------------------------------------


def user_sole_ownerships(*, user: User) -> list[Workspace]:
    """Workspaces that would be left with members but no owner if ``user`` were deleted.

    A workspace always keeps at least one owner, so such a user cannot be deleted until another
    member is made an owner. (Workspaces where the user is alone go with them.)"""
    owned = Workspace.objects.filter(
        memberships__user=user, memberships__role=Membership.Role.OWNER
    )
    blocked = []
    for workspace in owned.order_by("name"):
        others = Membership.objects.filter(workspace=workspace).exclude(user=user)
        if others.exists() and not others.filter(role=Membership.Role.OWNER).exists():
            blocked.append(workspace)
    return blocked


def _locked_owner_ids(workspace: Workspace) -> list[int]:
    # Locks the owner rows so two owners demoting each other at once cannot both succeed.
    return list(
        Membership.objects.select_for_update()
        .filter(workspace=workspace, role=Role.OWNER)
        .values_list("pk", flat=True)
    )


def _locked_membership(membership: Membership) -> Membership:
    # Re-read under lock: another request (a second click, another owner) may have removed it.
    locked = (
        Membership.objects.select_for_update(of=("self",))
        .select_related("user", "workspace")
        .filter(pk=membership.pk)
        .first()
    )
    if locked is None:
        raise ValidationError(
            _("This person is no longer a member of this workspace."), code="gone"
        )
    return locked


def member_role_change(
    *, membership: Membership, role: str, actor: User, request: HttpRequest | None = None
) -> Membership:
    if role not in Role.values:
        raise ValidationError(_("Choose a role."), code="role")
    with transaction.atomic():
        owners = _locked_owner_ids(membership.workspace)
        membership = _locked_membership(membership)
        old = membership.role
        if old == role:
            return membership
        if old == Role.OWNER and owners == [membership.pk]:
            raise _last_owner_error()
        membership.role = role
        membership.save(update_fields=["role"])
        audit_record(
            workspace=membership.workspace,
            actor=actor,
            action=AuditEvent.Action.MEMBER_ROLE_CHANGED,
            target=membership.user.email,
            details={"from": old, "to": role},
            request=request,
        )
    return membership


def member_remove(
    *, membership: Membership, actor: User, request: HttpRequest | None = None
) -> None:
    """Remove a member, or let members leave (``actor`` is the member). Never the last owner."""
    with transaction.atomic():
        owners = _locked_owner_ids(membership.workspace)
        membership = _locked_membership(membership)
        if membership.role == Role.OWNER and owners == [membership.pk]:
            raise _last_owner_error()
        left = membership.user_id == actor.pk
        audit_record(
            workspace=membership.workspace,
            actor=actor,
            action=AuditEvent.Action.MEMBER_REMOVED,
            target=membership.user.email,
            details={"role": membership.role, "left": left},
            request=request,
        )
        membership.delete()


# --- Invitations ----------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_is_pending(invitation: Invitation) -> bool:
    return (
        invitation.accepted_at is None
        and invitation.revoked_at is None
        and invitation.expires_at > timezone.now()
    )


def invitations_pending(*, workspace: Workspace):
    return Invitation.objects.filter(
        workspace=workspace,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).select_related("invited_by")


def invitation_create(
    *,
    workspace: Workspace,
    email: str,
    role: str,
    inviter: User,
    request: HttpRequest,
    submission: uuid.UUID | None = None,
) -> tuple[Invitation, str | None]:
    """Invite ``email`` and send the link. Returns the invitation and its token.

    The token exists only in the email; the database keeps its SHA-256. A new invitation to the
    same address replaces a pending one, so only the newest link works. A repeated
    ``submission`` (a double click) returns the pending invitation it made, with no token, and
    sends nothing.
    """
    if submission is not None:
        earlier = _invitation_of_submission(workspace, submission)
        if earlier is not None:
            return earlier, None
    email = email.strip().lower()
    if role not in Role.values:
        raise ValidationError(_("Choose a role."), code="role")
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
        raise ValidationError(
            _("%(email)s is already a member of this workspace."),
            code="member",
            params={"email": email},
        )
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                invitation = Invitation.objects.create(
                    workspace=workspace,
                    email=email,
                    role=role,
                    token_hash=_token_hash(token),
                    invited_by=inviter,
                    expires_at=now + timedelta(days=settings.INVITATION_EXPIRY_DAYS),
                    submission=submission,
                )
        except IntegrityError:
            # The same submission raced in from a second click and won.
            earlier = _invitation_of_submission(workspace, submission) if submission else None
            if earlier is None:
                raise
            return earlier, None
        # Only the newest link to an address works.
        Invitation.objects.filter(
            workspace=workspace, email__iexact=email, accepted_at__isnull=True, revoked_at=None
        ).exclude(pk=invitation.pk).update(revoked_at=now)
        audit_record(
            workspace=workspace,
            actor=inviter,
            action=AuditEvent.Action.MEMBER_INVITED,
            target=email,
            details={"role": role},
            request=request,
        )
    # Sent after the commit, so a slow mail server never holds the database's write lock.
    link = request.build_absolute_uri(reverse("accounts:invitation", args=[token]))
    try:
        _invitation_send(invitation=invitation, link=link)
    except (OSError, smtplib.SMTPException):
        logger.exception("Could not send the invitation email for workspace %s", workspace.code)
        # Withdrawn, and its submission freed so that pressing "Send" again really retries.
        Invitation.objects.filter(pk=invitation.pk).update(
            revoked_at=timezone.now(), submission=None
        )
        raise ValidationError(
            _("The invitation email could not be sent, so no invitation was made. Try again."),
            code="mail",
        ) from None
    return invitation, token


def _invitation_of_submission(workspace: Workspace, submission: uuid.UUID) -> Invitation | None:
    return Invitation.objects.filter(
        workspace=workspace, submission=submission, accepted_at=None, revoked_at=None
    ).first()


def _invitation_send(*, invitation: Invitation, link: str) -> None:
    context = {
        "invitation": invitation,
        "workspace": invitation.workspace,
        "inviter": invitation.invited_by,
        "role": invitation.get_role_display(),
        "link": link,
        "expiry_days": settings.INVITATION_EXPIRY_DAYS,
    }
    subject = render_to_string("accounts/email/invitation_subject.txt", context)
    body = render_to_string("accounts/email/invitation_body.txt", context)
    send_mail(
        " ".join(subject.split()),
        body,
        settings.DEFAULT_FROM_EMAIL,
        [invitation.email],
    )


def invitation_revoke(
    *, invitation: Invitation, actor: User, request: HttpRequest | None = None
) -> None:
    updated = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    if not updated:
        raise ValidationError(
            _("This invitation was already accepted or revoked."), code="not_pending"
        )
    audit_record(
        workspace=invitation.workspace,
        actor=actor,
        action=AuditEvent.Action.INVITATION_REVOKED,
        target=invitation.email,
        details={"role": invitation.role},
        request=request,
    )


def invitation_for_token(*, token: str) -> Invitation | None:
    """The invitation this link's token belongs to, whatever its state; ``None`` if unknown."""
    if not token or len(token) > 200:
        return None
    return (
        Invitation.objects.select_related("workspace", "invited_by")
        .filter(token_hash=_token_hash(token))
        .first()
    )


class AcceptOutcome(enum.Enum):
    JOINED = "joined"
    UPGRADED = "upgraded"  # was a member already; the invitation's role was higher
    ALREADY_MEMBER = "already_member"


@dataclass(frozen=True)
class AcceptResult:
    membership: Membership
    outcome: AcceptOutcome


def invitation_problem(*, invitation: Invitation | None, user: User | None = None) -> str | None:
    """Why this invitation cannot be accepted (by ``user``), as a sentence; ``None`` if it can.

    Accepting needs the account whose email the invitation was sent to: an agency invites a
    client's address, and a forwarded link must not let someone else in.
    """
    if invitation is None:
        return _("This invitation link is not valid. Check that you copied all of it.")
    if invitation.revoked_at is not None:
        return _("This invitation was withdrawn. Ask the workspace owner for a new one.")
    if invitation.accepted_at is not None:
        return _("This invitation has already been used. Each link works once.")
    if invitation.expires_at <= timezone.now():
        return _("This invitation has expired. Ask the workspace owner to send a new one.")
    if user is not None and user.email.lower() != invitation.email.lower():
        return _(
            "This invitation was sent to %(invited)s, but you are logged in as %(current)s. "
            "Log out and continue as %(invited)s, or ask the owner to invite %(current)s."
        ) % {"invited": invitation.email, "current": user.email}
    return None


def invitation_accept(
    *, invitation: Invitation, user: User, request: HttpRequest | None = None
) -> AcceptResult:
    """Join the workspace. The link works once: the claim is a conditional UPDATE.

    Needs ``user``'s address to be the invited one and verified (``ValidationError`` with code
    ``unverified`` otherwise: ``invitation_hold`` then keeps it until it is).
    """
    problem = invitation_problem(invitation=invitation, user=user)
    if problem:
        raise ValidationError(problem, code="invalid")
    now = timezone.now()
    with transaction.atomic():
        # No membership without a verified address: whoever holds a forwarded link could
        # otherwise make an account for the invited address and join. Read under lock, so an
        # address being changed meanwhile cannot slip through.
        verified = (
            EmailAddress.objects.select_for_update()
            .filter(user=user, email__iexact=invitation.email, verified=True)
            .first()
        )
        if verified is None:
            raise ValidationError(
                _("Confirm your email address first: we add you to “%(name)s” as soon as you have.")
                % {"name": invitation.workspace.name},
                code="unverified",
            )
        claimed = Invitation.objects.filter(
            pk=invitation.pk,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=now,
        ).update(accepted_at=now, accepted_by=user)
        if not claimed:
            # Someone used the link between our check and now.
            invitation.refresh_from_db()
            problem = invitation_problem(invitation=invitation) or _(
                "This invitation can no longer be used."
            )
            raise ValidationError(problem, code="invalid")
        workspace = invitation.workspace
        membership = Membership.objects.filter(workspace=workspace, user=user).first()
        if membership is None:
            membership = Membership.objects.create(
                workspace=workspace, user=user, role=invitation.role
            )
            outcome = AcceptOutcome.JOINED
        elif ROLE_RANK[invitation.role] > ROLE_RANK[membership.role]:
            old = membership.role
            membership.role = invitation.role
            membership.save(update_fields=["role"])
            outcome = AcceptOutcome.UPGRADED
            audit_record(
                workspace=workspace,
                actor=user,
                action=AuditEvent.Action.MEMBER_ROLE_CHANGED,
                target=user.email,
                details={"from": old, "to": invitation.role, "invitation": True},
                request=request,
            )
        else:
            outcome = AcceptOutcome.ALREADY_MEMBER
        if outcome is AcceptOutcome.JOINED:
            audit_record(
                workspace=workspace,
                actor=user,
                action=AuditEvent.Action.MEMBER_JOINED,
                target=user.email,
                details={"role": membership.role},
                request=request,
            )
    return AcceptResult(membership=membership, outcome=outcome)


def invitation_hold(*, invitation: Invitation, user: User) -> bool:
    """Keep a live invitation for ``user`` until their address is verified.

    Only the account with the invited address can hold it; a later hold by another such account
    (there is only ever one) replaces it. Returns whether it is held.
    """
    if invitation_problem(invitation=invitation, user=user):
        return False
    held = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(held_for=user)
    return bool(held)


def invitations_accept_held(
    *, user: User, email: str, request: HttpRequest | None = None
) -> list[AcceptResult]:
    """Accept every live invitation held for ``user`` to ``email`` (just verified).

    An invitation that can no longer be used (withdrawn, expired) is skipped: the page that
    follows says nothing of it, as a dead link says nothing either.
    """
    results = []
    held = Invitation.objects.select_related("workspace").filter(
        held_for=user,
        email__iexact=email,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    )
    for invitation in held.order_by("created_at"):
        try:
            results.append(invitation_accept(invitation=invitation, user=user, request=request))
        except ValidationError:
            logger.info("Held invitation %s could not be accepted", invitation.code)
    return results
