from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

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
