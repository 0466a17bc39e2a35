"""Business actions on people and workspaces. Views parse and render; these decide.

Every function is keyword-only. Rule violations raise ``django.core.exceptions.ValidationError``
with a sentence meant for the person who tried. Each change to a workspace writes an
``AuditEvent`` through ``accounts.audit.audit_record``.

Authority is decided here, not in the views: every service that changes a workspace takes the
actor and re-reads the actor's role under lock (``accounts.access.lock_actor_role``) in the
transaction that acts, and raises ``accounts.access.RoleRequired`` (a ``PermissionDenied``: the
view's own 403) when it no longer allows the action.
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
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, connection, models, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.access import lock_actor_role
from accounts.audit import audit_record
from accounts.models import (
    AuditEvent,
    Invitation,
    Membership,
    User,
    Workspace,
    known_time_zones,
    validate_time_zone,
)

logger = logging.getLogger(__name__)

Role = Membership.Role
ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}


def last_owner_error() -> ValidationError:
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


def sole_owner_error(workspaces: list[Workspace], *, email: str | None = None) -> ValidationError:
    """Why an account cannot be deleted yet, naming the workspaces. ``email``: said of someone
    else (the admin deleting a user), else to the user themselves."""
    names = ", ".join(f"“{w.name}”" for w in workspaces)
    if email is None:
        text = ngettext(
            "You are the last owner of %(names)s, which has other members. Make one of them an "
            "owner first (or remove them), then delete your account.",
            "You are the last owner of %(names)s, which have other members. Make one of them an "
            "owner in each first (or remove them), then delete your account.",
            len(workspaces),
        )
    else:
        text = ngettext(
            "%(email)s is the last owner of %(names)s, which has other members. One of them "
            "must be made an owner first.",
            "%(email)s is the last owner of %(names)s, which have other members. In each, one "
            "of them must be made an owner first.",
            len(workspaces),
        )
    return ValidationError(text, code="sole_owner", params={"names": names, "email": email})


def user_delete_plan(*, user: User) -> tuple[list[Workspace], list[Workspace]]:
    """What deleting ``user`` would do: (workspaces deleted with them, because they are alone
    there; workspaces that block it, where they are the last owner and others remain)."""
    blocked = user_sole_ownerships(user=user)
    # Counted before filtering on the user: the count must see every member, not only them.
    alone = list(
        Workspace.objects.annotate(members_count=models.Count("memberships"))
        .filter(members_count=1, memberships__user=user)
        .order_by("name", "pk")
    )
    return alone, blocked


def user_delete(*, user: User, actor: User, request: HttpRequest | None = None) -> list[str]:
    """Delete ``user``'s account (``actor`` is the user, or an admin allowed to delete users).

    Workspaces where the user is the only member go with them, with their stored Taisly key;
    workspaces that keep other members record that the user left. Refused with a sentence
    naming them (``ValidationError``, code ``sole_owner``) while the user is the last owner of
    a workspace that has other members: someone there must be made an owner first. Returns the
    names of the workspaces that were deleted.
    """
    if actor.pk != user.pk and not actor.has_perm("accounts.delete_user"):
        raise PermissionDenied
    with transaction.atomic():
        if not User.objects.select_for_update().filter(pk=user.pk).exists():
            raise ValidationError(_("This account was already deleted."), code="gone")
        # Every membership of every workspace the user is in, locked, so nobody joins, leaves or
        # changes role there while we decide which workspace stays and which goes.
        rows = list(
            Membership.objects.select_for_update(of=("self",))
            .filter(workspace__in=Membership.objects.filter(user=user).values("workspace"))
            .select_related("workspace")
            .order_by("pk")
        )
        by_workspace: dict[int, list[Membership]] = {}
        for row in rows:
            by_workspace.setdefault(row.workspace_id, []).append(row)
        alone, staying, blocked = [], [], []
        for members in by_workspace.values():
            own = next(m for m in members if m.user_id == user.pk)
            others = [m for m in members if m.user_id != user.pk]
            if not others:
                alone.append(own.workspace)
            elif own.is_owner and not any(m.is_owner for m in others):
                blocked.append(own.workspace)
            else:
                staying.append(own)
        if blocked:
            raise sole_owner_error(
                sorted(blocked, key=lambda w: (w.name, w.pk)),
                email=None if actor.pk == user.pk else user.email,
            )
        for membership in staying:
            audit_record(
                workspace=membership.workspace,
                actor=actor,
                action=AuditEvent.Action.MEMBER_REMOVED,
                target=user.email,
                details={
                    "role": membership.role,
                    "left": actor.pk == user.pk,
                    "account_deleted": True,
                },
                request=request,
            )
        deleted = []
        for workspace in alone:
            # Recorded first: the event keeps the workspace's name when the workspace is gone.
            audit_record(
                workspace=workspace,
                actor=actor,
                action=AuditEvent.Action.WORKSPACE_DELETED,
                target=workspace.name,
                details={"code": str(workspace.code), "account_deleted": True},
                request=request,
            )
            deleted.append(workspace.name)
            workspace.delete()  # with its TaislyConnection (and so its stored key)
        user.delete()
    return deleted


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
        workspace = Workspace.objects.create(
            name=name, kind=kind, created_by=owner, time_zone=_known_zone(owner.timezone)
        )
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
    """Rename the workspace (owners only)."""
    with transaction.atomic():
        lock_actor_role(workspace=workspace, actor=actor)
        old = (
            Workspace.objects.select_for_update()
            .values_list("name", flat=True)
            .get(pk=workspace.pk)
        )
        workspace.name = name
        if old == name:
            return workspace
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
        lock_actor_role(workspace=workspace, actor=actor)  # owners only, decided here
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


def _known_zone(name: str) -> str:
    """``name`` if it is an IANA time zone this Python knows, else the project's."""
    return name if name in known_time_zones() else settings.TIME_ZONE


def workspace_set_time_zone(
    *, workspace: Workspace, time_zone: str, actor: User, request: HttpRequest | None = None
) -> Workspace:
    """Set the time zone the workspace's posting slots are in (owners only). Slots keep their
    weekday and clock time; posts already scheduled keep their instant."""
    validate_time_zone(time_zone)
    with transaction.atomic():
        lock_actor_role(workspace=workspace, actor=actor)  # owners only, decided here
        locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
        if locked.time_zone != time_zone:
            audit_record(
                workspace=workspace,
                actor=actor,
                action=AuditEvent.Action.WORKSPACE_TIME_ZONE_CHANGED,
                target=time_zone,
                details={"from": locked.time_zone, "to": time_zone},
                request=request,
            )
            locked.time_zone = time_zone
            locked.save(update_fields=["time_zone"])
    workspace.time_zone = time_zone
    return locked


def workspace_delete(
    *, workspace: Workspace, actor: User, request: HttpRequest | None = None
) -> None:
    """Delete a client workspace with everything in it (owners only). Personal ones stay."""
    if workspace.kind == Workspace.Kind.PERSONAL:
        raise ValidationError(
            _("A personal workspace cannot be deleted; rename it instead."), code="personal"
        )
    with transaction.atomic():
        lock_actor_role(workspace=workspace, actor=actor)
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
    others = ~models.Q(memberships__user=user)
    # One query: counted before filtering on the user, so the counts see every member.
    return list(
        Workspace.objects.annotate(
            others=models.Count("memberships", filter=others),
            other_owners=models.Count(
                "memberships", filter=others & models.Q(memberships__role=Role.OWNER)
            ),
        )
        .filter(
            memberships__user=user,
            memberships__role=Role.OWNER,
            others__gt=0,
            other_owners=0,
        )
        .order_by("name", "pk")
    )


def _locked_owner_ids(workspace: Workspace) -> list[int]:
    # Locks the owner rows so two owners demoting each other at once cannot both succeed. Always
    # taken first and in primary-key order (before the actor's and the target's rows), so two
    # owners acting at once queue here instead of deadlocking.
    return list(
        Membership.objects.select_for_update()
        .filter(workspace=workspace, role=Role.OWNER)
        .order_by("pk")
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
    """Give a member another role (owners only). Never demotes the last owner."""
    if role not in Role.values:
        raise ValidationError(_("Choose a role."), code="role")
    with transaction.atomic():
        owners = _locked_owner_ids(membership.workspace)
        lock_actor_role(workspace=membership.workspace, actor=actor)
        membership = _locked_membership(membership)
        old = membership.role
        if old == role:
            return membership
        if old == Role.OWNER and owners == [membership.pk]:
            raise last_owner_error()
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


def member_set_reviewer(
    *, membership: Membership, can_approve: bool, actor: User, request: HttpRequest | None = None
) -> Membership:
    """Give or take a member's reviewer right: approving posts at the client stage of the
    approval workflow (owners only; audited). A post waiting for this member is decided by
    whoever has the right when they decide."""
    with transaction.atomic():
        lock_actor_role(workspace=membership.workspace, actor=actor)
        membership = _locked_membership(membership)
        if membership.can_approve == can_approve:
            return membership
        membership.can_approve = can_approve
        membership.save(update_fields=["can_approve"])
        audit_record(
            workspace=membership.workspace,
            actor=actor,
            action=AuditEvent.Action.MEMBER_REVIEWER_CHANGED,
            target=membership.user.email,
            details={"can_approve": can_approve},
            request=request,
        )
    return membership


def member_remove(
    *,
    membership: Membership,
    actor: User,
    request: HttpRequest | None = None,
    by_staff: bool = False,
) -> None:
    """Remove a member (owners only), or let members leave (``actor`` is the member, whatever
    their role). Never the last owner. ``by_staff``: an administrator in the Django admin, who
    needs the permission to delete memberships rather than a role in the workspace."""
    with transaction.atomic():
        owners = _locked_owner_ids(membership.workspace)
        if by_staff:
            if not actor.has_perm("accounts.delete_membership"):
                raise PermissionDenied
        elif membership.user_id != actor.pk:
            lock_actor_role(workspace=membership.workspace, actor=actor)
        membership = _locked_membership(membership)
        if membership.role == Role.OWNER and owners == [membership.pk]:
            raise last_owner_error()
        left = membership.user_id == actor.pk
        details = {"role": membership.role, "left": left}
        if by_staff:
            details["staff_action"] = True
        audit_record(
            workspace=membership.workspace,
            actor=actor,
            action=AuditEvent.Action.MEMBER_REMOVED,
            target=membership.user.email,
            details=details,
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
    sends nothing; one whose invitation was since withdrawn or accepted is refused with a
    sentence (an old form sent again must not invite anyone anew). Owners only.
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
        lock_actor_role(workspace=workspace, actor=inviter)
        _invitation_allowed(inviter=inviter, email=email, now=now)
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


def _invitation_allowed(*, inviter: User, email: str, now) -> None:
    """Invitation emails carry a workspace name the inviter typed: only a verified account may
    send them, and only so many an hour, per inviter and per invited address. Counted from the
    invitations themselves (withdrawn ones too: their email went out), with the inviter's row
    locked, so two requests at once cannot both take the last one; and, for the per-address
    count, which several inviters share, a lock on the address for the rest of the transaction
    (two inviters at once would otherwise both see the address under its limit)."""
    User.objects.select_for_update().filter(pk=inviter.pk).exists()
    _lock_invited_address(email)
    if not email_verified(user=inviter):
        raise ValidationError(
            _(
                "Confirm your own email address before you invite anyone: use the link we "
                "emailed to %(email)s, or have it sent again."
            ),
            code="unverified",
            params={"email": inviter.email},
        )
    hour_ago = now - timedelta(hours=1)
    recent = Invitation.objects.filter(created_at__gt=hour_ago)
    for rows, limit, code in (
        (recent.filter(invited_by=inviter), settings.INVITATIONS_PER_INVITER_PER_HOUR, "inviter"),
        (recent.filter(email__iexact=email), settings.INVITATIONS_PER_ADDRESS_PER_HOUR, "address"),
    ):
        sent = list(rows.order_by("-created_at").values_list("created_at", flat=True)[:limit])
        if len(sent) < limit:
            continue
        # The oldest of the last `limit` leaves the hour first.
        wait = (sent[-1] + timedelta(hours=1) - now).total_seconds()
        minutes = max(1, -(-int(wait) // 60))
        if code == "inviter":
            text = ngettext(
                "You have sent %(limit)s invitations in the last hour, the most allowed. You "
                "can invite again in %(minutes)s minute.",
                "You have sent %(limit)s invitations in the last hour, the most allowed. You "
                "can invite again in %(minutes)s minutes.",
                minutes,
            )
        else:
            text = ngettext(
                "%(email)s has had as many invitations in the last hour as allowed. You can "
                "invite this address again in %(minutes)s minute.",
                "%(email)s has had as many invitations in the last hour as allowed. You can "
                "invite this address again in %(minutes)s minutes.",
                minutes,
            )
        raise ValidationError(
            text,
            code="invitation_limit",
            params={"limit": limit, "minutes": minutes, "email": email},
        )


def _lock_invited_address(email: str) -> None:
    """Serialise invitations to one address until the transaction ends. On PostgreSQL a
    transaction-level advisory lock on the address's hash (a collision only serialises two
    addresses); SQLite has one writer at a time already."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", ["invitation-address:" + email.lower()]
        )


def _invitation_of_submission(workspace: Workspace, submission: uuid.UUID) -> Invitation | None:
    """The pending invitation this submission made, if any. Raises ``ValidationError`` when it
    made one that is no longer pending (withdrawn, accepted, expired): the form is stale."""
    earlier = Invitation.objects.filter(submission=submission).first()
    if earlier is None:
        return None
    if earlier.workspace_id != workspace.pk:
        # A submission id is random per form; one from another workspace's form is not ours to
        # report on.
        raise ValidationError(_("This form was already sent. Open a new one."), code="stale")
    if invitation_is_pending(earlier):
        return earlier
    if earlier.accepted_at is not None:
        text = _(
            "This form was already sent, and %(email)s has accepted that invitation since. "
            "To invite someone else, open a new invitation form."
        )
    elif earlier.revoked_at is not None:
        text = _(
            "This form was already sent, and that invitation to %(email)s was withdrawn since. "
            "To invite %(email)s again, open a new invitation form."
        )
    else:
        text = _(
            "This form was already sent, and that invitation to %(email)s has expired since. "
            "To invite %(email)s again, open a new invitation form."
        )
    raise ValidationError(text, code="stale", params={"email": earlier.email})


def _invitation_language(invitation: Invitation) -> str:
    """The invitee's own language when they have an account, else the inviter's."""
    invitee = User.objects.filter(email__iexact=invitation.email).only("language").first()
    for person in (invitee, invitation.invited_by):
        if person is not None and person.language in dict(settings.LANGUAGES):
            return person.language
    return settings.LANGUAGE_CODE


def _invitation_send(*, invitation: Invitation, link: str) -> None:
    with translation.override(_invitation_language(invitation)):
        _invitation_send_now(invitation=invitation, link=link)


def _invitation_send_now(*, invitation: Invitation, link: str) -> None:
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
    """Withdraw a pending invitation (owners only)."""
    with transaction.atomic():
        lock_actor_role(workspace=invitation.workspace, actor=actor)
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
