from allauth.mfa.models import Authenticator
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.admin_audit import StaffAuditMixin
from accounts.models import AuditEvent, Invitation, Membership, TaislyConnection, User, Workspace
from accounts.services import user_sole_ownerships


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "display_name", "is_staff", "is_active", "date_joined")
    search_fields = ("email", "display_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Profile"), {"fields": ("display_name", "timezone", "language")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    #: Only superusers grant rights or set a password: support staff (accounts/staff_group.py)
    #: change a person's profile or deactivate them, and cannot make anyone (themselves
    #: included) staff or superuser, nor take over an account through its password.
    RIGHTS = ("password", "is_staff", "is_superuser", "groups", "user_permissions")

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else (*fields, *self.RIGHTS)

    def user_change_password(self, request, id, form_url=""):
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    # A workspace always keeps an owner: the last owner of a workspace that has other members
    # cannot be deleted (singly or in a bulk action) until someone else there is an owner.
    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and user_sole_ownerships(user=obj):
            return False
        return super().has_delete_permission(request, obj)

    def delete_view(self, request, object_id, extra_context=None):
        # The last owner of a shared workspace: say why, and which, instead of a bare 403.
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and super().has_delete_permission(request, obj):
            blocked = user_sole_ownerships(user=obj)
            if blocked:
                error = services.sole_owner_error(blocked, email=obj.email)
                self.message_user(request, " ".join(error.messages), messages.ERROR)
                return redirect(reverse("admin:accounts_user_change", args=[obj.pk]))
        return super().delete_view(request, object_id, extra_context)

    # Deleting goes through the service: workspaces where the user was alone go with them (and
    # their stored keys), the others record that the user left.
    def delete_model(self, request, obj) -> None:
        services.user_delete(user=obj, actor=request.user, request=request)

    def delete_queryset(self, request, queryset) -> None:
        try:
            with transaction.atomic():  # all of them, or (one refused) none
                for user in queryset:
                    services.user_delete(user=user, actor=request.user, request=request)
        except ValidationError as exc:
            # has_delete_permission let the selection through a moment ago; someone changed
            # roles since.
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            raise PermissionDenied from None


@admin.register(TaislyConnection)
class TaislyConnectionAdmin(admin.ModelAdmin):
    """The key itself is never shown or editable here: only its hint. Keys change through the
    workspace's key page, where they are verified with Taisly first."""

    list_display = (
        "workspace",
        "key_hint",
        "plan",
        "status",
        "fingerprint_short",
        "blocked_until",
        "last_verified_at",
    )
    list_filter = ("plan", "status")
    search_fields = ("workspace__name", "key_hint", "=key_fingerprint")
    list_select_related = ("workspace", "connected_by")
    exclude = ("api_key",)
    readonly_fields = (
        "workspace",
        "key_hint",
        "plan",
        "status",
        "blocked_until",
        "connected_by",
        "connected_at",
        "last_verified_at",
        "status_changed_at",
    )

    def get_queryset(self, request):
        # The list and the change page never decrypt the key.
        return super().get_queryset(request).defer("api_key")

    @admin.display(description=_("shared-key fingerprint"))
    def fingerprint_short(self, obj) -> str:
        # Enough to see two workspaces share a key (search "=<fingerprint>" for the others).
        return f"{obj.key_fingerprint[:12]}…" if obj.key_fingerprint else ""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "role", "created_at")
    readonly_fields = ("user", "role", "created_at")
    can_delete = False

    # Roles change on the workspace's members page, where a workspace always keeps an owner.
    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Workspace)
class WorkspaceAdmin(StaffAuditMixin):
    list_display = ("name", "kind", "code", "created_by", "created_at")
    list_filter = ("kind", "created_at")
    search_fields = ("name", "=code", "memberships__user__email")
    list_select_related = ("created_by",)
    readonly_fields = ("code", "created_by", "created_at")
    fields = ("name", "kind", "code", "created_by", "created_at")
    inlines = [MembershipInline]
    show_full_result_count = False


@admin.register(Membership)
class MembershipAdmin(StaffAuditMixin):
    """Roles change through the members page. Deleting a membership here goes through
    ``services.member_remove``, which keeps a workspace's last owner (and audits it)."""

    list_display = ("user", "workspace", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "workspace__name")
    list_select_related = ("user", "workspace")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def delete_view(self, request, object_id, extra_context=None):
        # The last owner: say why instead of a confirmation page that cannot work.
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and obj.is_owner and self.has_delete_permission(request, obj):
            owners = Membership.objects.filter(workspace=obj.workspace_id, role=obj.role)
            if owners.count() == 1:
                self.message_user(
                    request, " ".join(services.last_owner_error().messages), messages.ERROR
                )
                return redirect(reverse("admin:accounts_membership_change", args=[obj.pk]))
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj) -> None:
        self._remove(request, [obj])

    def delete_queryset(self, request, queryset) -> None:
        self._remove(request, list(queryset))

    def _remove(self, request, memberships) -> None:
        try:
            with transaction.atomic():  # all of them, or (one refused) none
                for membership in memberships:
                    services.member_remove(
                        membership=membership, actor=request.user, request=request, by_staff=True
                    )
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            raise PermissionDenied from None


# allauth's own admin for two-factor authenticators shows ``data``: each TOTP secret and
# recovery-code seed (encrypted now, but the admin is no place for them either way).
if admin.site.is_registered(Authenticator):
    admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class AuthenticatorAdmin(admin.ModelAdmin):
    """Who has two-factor sign-in, of which type, since when: never its secrets. An
    administrator may delete one for a person who lost both their phone and their recovery
    codes; they then log in with the password alone and set it up again."""

    list_display = ("user", "type", "created_at", "last_used_at")
    list_filter = ("type", "created_at", "last_used_at")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    fields = ("user", "type", "created_at", "last_used_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("data")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Invitation)
class InvitationAdmin(StaffAuditMixin):
    """Invitations are made on the members page (which emails the link); staff may only look,
    or delete one, which withdraws its link."""

    list_display = ("email", "workspace", "role", "invited_by", "created_at", "expires_at")
    list_filter = ("role", "created_at")
    search_fields = ("email", "workspace__name")
    list_select_related = ("workspace", "invited_by")
    exclude = ("token_hash", "submission")
    readonly_fields = (
        "workspace",
        "email",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
        "revoked_at",
    )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log is evidence: nobody adds, changes or deletes it here."""

    list_display = ("created_at", "actor_email", "action", "workspace_name", "target", "ip")
    list_filter = ("action", "created_at")
    search_fields = ("actor_email", "workspace_name", "target")
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
