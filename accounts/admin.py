from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.models import TaislyConnection, User
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

    list_display = ("workspace", "key_hint", "plan", "status", "connected_by", "last_verified_at")
    list_filter = ("plan", "status")
    search_fields = ("workspace__name", "key_hint")
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

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
