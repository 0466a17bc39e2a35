from __future__ import annotations

import functools
import uuid
import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.fields import EncryptedTextField

#: The longest address any email column holds (RFC 5321's path limit less the angle brackets).
#: Every form field for an email uses it (``accounts.emails.EmailAddressField``): a longer one
#: would pass Django's EmailValidator (320) and fail the insert, a 500 on PostgreSQL.
EMAIL_MAX_LENGTH = 254


#: Names in the zone directory that are not a place's time zone.
NOT_PLACES = frozenset({"Factory", "localtime", "posixrules"})


@functools.cache
def known_time_zones() -> frozenset[str]:
    """The IANA time zone names this Python knows, read once per process:
    ``zoneinfo.available_timezones()`` opens every file under the zone directory on each call
    (about 0.1 s), and a form with a time zone asked for it up to three times a request.
    "Factory" and "localtime" are files there but no place's time: left out."""
    return frozenset(zoneinfo.available_timezones()) - NOT_PLACES


def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(known_time_zones())]


def validate_time_zone(value: str) -> None:
    """An IANA time zone name this Python knows (``Europe/Paris``), else a sentence."""
    if value not in known_time_zones():
        raise ValidationError(
            _("“%(value)s” is not a time zone name, such as Asia/Jakarta."),
            params={"value": value},
            code="time_zone",
        )


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, email: str):
        # Emails are stored lower-cased; "Alice@Example.test" logs in as alice@example.test.
        email = email.strip()
        if len(email) > EMAIL_MAX_LENGTH:
            # No account has such an address; and SQLite refuses a LIKE pattern that long.
            raise self.model.DoesNotExist
        return self.get(email__iexact=email)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A person. Logs in with an email address; there is no username."""

    username = None
    first_name = None
    last_name = None
    email = models.EmailField(_("email address"), max_length=EMAIL_MAX_LENGTH, unique=True)
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    timezone = models.CharField(_("time zone"), max_length=64, default="UTC")
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name or self.email

    def clean(self) -> None:
        # Lower-cased like every other way in (sign-up, the manager), so the admin cannot make
        # "Bob@x" beside "bob@x": logging in looks emails up without regard to case.
        super().clean()
        self.email = (self.email or "").strip().lower()

    def get_full_name(self) -> str:
        return self.display_name or self.email

    def get_short_name(self) -> str:
        return self.display_name or self.email.split("@")[0]


class Workspace(models.Model):
    """One Taisly account's worth of work: a team's, or one agency client's."""

    class Kind(models.TextChoices):
        PERSONAL = "personal", _("Personal")
        CLIENT = "client", _("Client")

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.CLIENT)
    # Set by an owner: members without two-factor sign-in are sent to set it up first.
    require_2fa = models.BooleanField(_("require two-factor sign-in"), default=False)

    class ApprovalWorkflow(models.TextChoices):
        NONE = "none", _("No review: posts go out when their author sends them")
        INTERNAL = "internal", _("Internal: an owner or editor other than the author approves")
        CLIENT = "client", _("Client: a client reviewer approves")
        INTERNAL_CLIENT = "internal_client", _("Internal, then the client")

    # Set by an owner (audited): who must approve a post before it reaches Taisly.
    approval_workflow = models.CharField(
        _("approval workflow"),
        max_length=16,
        choices=ApprovalWorkflow.choices,
        default=ApprovalWorkflow.NONE,
    )
    #: The time zone its weekly posting slots are in (``posting.models.PostingSlot``): the
    #: team's, whoever looks at them. Set from the creator's own time zone; owners change it.
    time_zone = models.CharField(
        _("time zone"), max_length=64, default=settings.TIME_ZONE, validators=[validate_time_zone]
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("workspace")
        verbose_name_plural = _("workspaces")

    def __str__(self) -> str:
        return self.name

    @property
    def review_sentence(self) -> str:
        """Who reviews a post here before it goes out, for the compose form ("" without
        review)."""
        return {
            self.ApprovalWorkflow.INTERNAL: _(
                "Posts here are reviewed by the team before they go out."
            ),
            self.ApprovalWorkflow.CLIENT: _(
                "Posts here are reviewed by the client before they go out."
            ),
            self.ApprovalWorkflow.INTERNAL_CLIENT: _(
                "Posts here are reviewed by the team, then the client, before they go out."
            ),
        }.get(self.approval_workflow, "")

    def approval_gaps(self) -> list[str]:
        """Why the workflow cannot complete as the members stand, in sentences (empty: it can):
        internal review with a single owner or editor, who may not approve their own posts; a
        client stage with no member holding the reviewer right (review links still work). A
        warning, never a refusal. One query; none without review."""
        stages = {
            self.ApprovalWorkflow.INTERNAL: (True, False),
            self.ApprovalWorkflow.CLIENT: (False, True),
            self.ApprovalWorkflow.INTERNAL_CLIENT: (True, True),
        }
        internal, client = stages.get(self.approval_workflow, (False, False))
        if not internal and not client:
            return []
        counts = self.memberships.aggregate(
            writers=models.Count(
                "pk", filter=models.Q(role__in=[Membership.Role.OWNER, Membership.Role.EDITOR])
            ),
            approvers=models.Count("pk", filter=models.Q(can_approve=True)),
        )
        gaps = []
        if internal and counts["writers"] < 2:
            gaps.append(
                _(
                    "Internal review needs an owner or editor other than the post's author, and "
                    "this workspace has only one: nobody can approve their posts. Invite a second "
                    "editor, or choose another workflow."
                )
            )
        if client and not counts["approvers"]:
            gaps.append(
                _(
                    "No member has the client reviewer right yet: send the client a review link "
                    "from each post in review (no account needed), or give a member the right on "
                    "the Members page."
                )
            )
        return gaps


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        EDITOR = "editor", _("Editor")
        VIEWER = "viewer", _("Viewer")

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.VIEWER)
    #: The reviewer right, set by an owner: this member may approve at the client stage of the
    #: approval workflow (owners and editors approve at the internal stage by their role).
    can_approve = models.BooleanField(_("may approve for the client"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="unique_membership"),
        ]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    @property
    def can_write(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.EDITOR)

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER


class Invitation(models.Model):
    """An emailed, expiring, single-use invitation to join a workspace.

    Only a hash of the token is stored; the token itself lives in the emailed link.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(_("email address"), max_length=EMAIL_MAX_LENGTH)
    role = models.CharField(
        _("role"), max_length=16, choices=Membership.Role.choices, default=Membership.Role.VIEWER
    )
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The account that asked to accept while its address was unverified (signed up from the
    # link, or pressed Accept): it joins when that address is verified, and only then.
    held_for = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The invite form's one-time submission id: a double-clicked "Send" finds the invitation the
    # first click made instead of sending a second email that withdraws the first link.
    submission = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} → {self.workspace}"


class TaislyConnection(models.Model):
    """A workspace's Taisly account: its API key (encrypted), plan and health."""

    class Plan(models.TextChoices):
        STARTER = "STARTER", "Starter"
        INFLUENCER = "INFLUENCER", "Influencer"
        PRO = "PRO", "Pro"

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        REVOKED = "revoked", _("Revoked")
        INVALID = "invalid", _("Invalid")
        DISCONNECTED = "disconnected", _("Disconnected")

    HOURLY_LIMITS = {Plan.STARTER: 50, Plan.INFLUENCER: 200, Plan.PRO: 1000}

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, related_name="taisly_connection"
    )
    api_key = EncryptedTextField(_("API key"), blank=True, default="")
    key_hint = models.CharField(_("key"), max_length=32, blank=True)
    plan = models.CharField(_("plan"), max_length=16, choices=Plan.choices, default=Plan.STARTER)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    blocked_until = models.DateTimeField(null=True, blank=True)
    #: When the current run of 429s began: set by the first 429, kept while more 429s follow,
    #: cleared by the first request Taisly serves (posting.taisly.governor). Past
    #: ALERT_BLOCKED_MINUTES the "blocked" alert is raised.
    blocked_since = models.DateTimeField(null=True, blank=True)
    #: HMAC-SHA256 of the stored key (accounts.crypto.key_fingerprint), "" while no key is
    #: stored. Connections with the same fingerprint hold the same key and share its quota.
    key_fingerprint = models.CharField(max_length=64, blank=True, db_index=True)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    connected_at = models.DateTimeField(auto_now_add=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.workspace} ({self.key_hint or 'no key'})"

    @property
    def is_active(self) -> bool:
        """True when the stored key may be used (services keep a key stored whenever active).

        Revoke and disconnect blank the stored key and keep only its hint; an invalid key (Taisly
        said 401) keeps its ciphertext until the owner replaces or disconnects it. Reading this
        does not decrypt anything, so pages may ``defer("api_key")``.
        """
        return self.status == self.Status.ACTIVE

    @property
    def hourly_limit(self) -> int:
        return self.HOURLY_LIMITS.get(self.plan, 50)


class AuditEvent(models.Model):
    """Who did what, where. ``details`` never holds a secret."""

    class Action(models.TextChoices):
        KEY_CONNECTED = "key.connected", _("Taisly key connected")
        KEY_REGENERATED = "key.regenerated", _("Taisly key regenerated")
        KEY_REVOKED = "key.revoked", _("Taisly key revoked")
        KEY_DISCONNECTED = "key.disconnected", _("Taisly key disconnected")
        WORKSPACE_CREATED = "workspace.created", _("Workspace created")
        WORKSPACE_RENAMED = "workspace.renamed", _("Workspace renamed")
        WORKSPACE_DELETED = "workspace.deleted", _("Workspace deleted")
        WORKSPACE_2FA_REQUIRED = "workspace.2fa_required", _("Two-factor sign-in required")
        WORKSPACE_2FA_OPTIONAL = "workspace.2fa_optional", _("Two-factor sign-in made optional")
        MEMBER_INVITED = "member.invited", _("Member invited")
        INVITATION_REVOKED = "member.invitation_revoked", _("Invitation revoked")
        MEMBER_JOINED = "member.joined", _("Member joined")
        MEMBER_ROLE_CHANGED = "member.role_changed", _("Member role changed")
        MEMBER_REMOVED = "member.removed", _("Member removed")
        POST_CREATED = "post.created", _("Post created")
        POST_CANCELLED = "post.cancelled", _("Scheduled post cancelled")
        POST_SEND_RETRIED = "post.send_retried", _("Sending a post retried")
        POST_ADOPTED = "post.adopted", _("Post found in Taisly history")
        POST_SENT_AGAIN = "post.sent_again", _("Post sent again after a check")
        POST_GIVEN_UP = "post.given_up", _("Post not sent again after a check")
        REPOST_ADDED = "repost.added", _("Repost rule added")
        REPOST_DELETED = "repost.deleted", _("Repost rule deleted")
        REPOST_PAUSED = "repost.paused", _("Repost rule paused")
        REPOST_RESUMED = "repost.resumed", _("Repost rule resumed")
        # Staff changing a workspace's rows in the Django admin (accounts.admin_audit); their
        # details carry ``"staff_action": True`` so a workspace's log tells them apart.
        STAFF_ADDED = "staff.added", _("Added by staff in the admin")
        STAFF_CHANGED = "staff.changed", _("Changed by staff in the admin")
        STAFF_DELETED = "staff.deleted", _("Deleted by staff in the admin")
        POST_RETRIED_FAILED = "post.retried_failed", _("Failed platforms retried")
        ALERTS_READ = "alerts.read", _("Alerts marked read")
        ALERT_EMAIL_CHANGED = "alerts.email_changed", _("Alert emails changed")
        WEBHOOK_ADDED = "webhook.added", _("Webhook added")
        WEBHOOK_DELETED = "webhook.deleted", _("Webhook deleted")
        WEBHOOK_ENABLED = "webhook.enabled", _("Webhook enabled")
        WEBHOOK_DISABLED = "webhook.disabled", _("Webhook disabled")
        WEBHOOK_TESTED = "webhook.tested", _("Webhook test event sent")
        WEBHOOK_REDELIVERED = "webhook.redelivered", _("Webhook delivery sent again")
        DRAFT_SAVED = "draft.saved", _("Draft saved")
        DRAFT_SENT = "draft.sent", _("Draft sent")
        DRAFT_DELETED = "draft.deleted", _("Draft deleted")
        POST_EDIT_REQUESTED = "post.edit_requested", _("Scheduled post edit requested")
        POST_EDITED = "post.edited", _("Scheduled post edited")
        POST_EDIT_FAILED = "post.edit_failed", _("Scheduled post edit not made")
        POST_BACK_TO_REVIEW = (
            "post.back_to_review",
            _("Scheduled post edited: taken off the schedule, back to review"),
        )
        WORKSPACE_APPROVAL_WORKFLOW = "workspace.approval_workflow", _("Approval workflow changed")
        MEMBER_REVIEWER_CHANGED = "member.reviewer_changed", _("Reviewer right changed")
        REVIEW_SUBMITTED = "review.submitted", _("Post submitted for review")
        REVIEW_APPROVED = "review.approved", _("Post approved")
        REVIEW_CHANGES_REQUESTED = "review.changes_requested", _("Changes requested")
        REVIEW_HELD = "review.held", _("Approved post held: its time had passed")
        REVIEW_RETURNED = "review.returned", _("Post returned to drafts: review turned off")
        REVIEW_RESET = "review.reset", _("Post edited: back to review")
        REVIEW_LINK_SENT = "review_link.sent", _("Review link sent")
        REVIEW_LINK_REVOKED = "review_link.revoked", _("Review link revoked")
        COMMENT_ADDED = "comment.added", _("Comment added")
        WORKSPACE_TIME_ZONE_CHANGED = "workspace.time_zone", _("Workspace time zone changed")
        SLOTS_ADDED = "slots.added", _("Posting slots added")
        SLOT_REMOVED = "slots.removed", _("Posting slot removed")
        QUEUE_REORDERED = "queue.reordered", _("Queue reordered")

    workspace = models.ForeignKey(
        Workspace, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    workspace_name = models.CharField(max_length=100, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_email = models.EmailField(max_length=EMAIL_MAX_LENGTH, blank=True)
    action = models.CharField(max_length=40, choices=Action.choices)
    target = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_email} {self.action} {self.target}"
