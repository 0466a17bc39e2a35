"""The posting app in the Django admin: the mirror mostly read only (Taisly is its source; the
next sync would undo an edit), the ledger strictly read only, every staff change audited in the
workspace's own log (accounts.admin_audit)."""

import re

from django.contrib import admin
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.admin_audit import StaffAuditMixin
from posting.models import (
    Alert,
    AlertPreference,
    AlertRead,
    Comment,
    Draft,
    DraftVersion,
    DraftWatch,
    KeyBudget,
    MirrorState,
    Platform,
    Post,
    PostingSlot,
    PostResult,
    RepostRule,
    ReviewLink,
    TaislyRequest,
    UploadInProgress,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


class MirrorAdmin(admin.ModelAdmin):
    """Looked at, and deleted with its workspace or post; never added or edited here."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(MirrorAdmin):
    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(MirrorState)
class MirrorStateAdmin(StaffAuditMixin):
    list_display = (
        "workspace",
        "history_synced_at",
        "platforms_synced_at",
        "reposts_synced_at",
        "sync_error",
        "sync_failures",
        "sync_retry_at",
    )
    list_filter = ("sync_error",)
    search_fields = ("workspace__name",)
    list_select_related = ("workspace",)
    # Staff may clear a back-off (sync_retry_at, sync_failures) to let background sync try again.
    fields = (
        "workspace",
        "history_synced_at",
        "platforms_synced_at",
        "reposts_synced_at",
        "sync_error",
        "sync_failures",
        "sync_retry_at",
        "sync_attempted_at",
        "backfill_page",
        "backfill_before",
    )
    readonly_fields = (
        "workspace",
        "history_synced_at",
        "platforms_synced_at",
        "reposts_synced_at",
        "sync_error",
        "sync_attempted_at",
        "backfill_page",
        "backfill_before",
    )

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Platform)
class PlatformAdmin(StaffAuditMixin, MirrorAdmin):
    list_display = ("network", "name", "workspace", "connected", "gone_at", "last_seen_at")
    list_filter = ("network", "connected")
    search_fields = ("name", "workspace__name", "=taisly_id")
    list_select_related = ("workspace",)


class PostResultInline(admin.TabularInline):
    model = PostResult
    fk_name = "post"
    extra = 0
    can_delete = False
    fields = ("platform", "status", "code", "message", "is_repost", "status_changed_at", "seen_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Post)
class PostAdmin(StaffAuditMixin):
    list_display = ("__str__", "workspace", "state", "origin", "due_at", "created_at")
    list_filter = ("state", "origin", "created_at")
    search_fields = ("description", "workspace__name", "=code", "=taisly_id")
    list_select_related = ("workspace",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [PostResultInline]
    exclude = ("target_platforms", "idempotency_token", "send_candidates")
    # State changes go through the post page (retry, adopt, give up), which re-checks Taisly.
    readonly_fields = [
        f.name
        for f in Post._meta.concrete_fields
        if f.name not in ("id", "idempotency_token", "send_candidates")
    ]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(PostResult)
class PostResultAdmin(StaffAuditMixin, MirrorAdmin):
    audit_workspace = "post__workspace"
    list_display = ("post", "platform", "status", "code", "status_changed_at", "seen_at")
    list_filter = ("status", "platform__network", "code")
    search_fields = ("code", "message", "post__workspace__name")
    list_select_related = ("post", "platform")
    show_full_result_count = False


@admin.register(RepostRule)
class RepostRuleAdmin(StaffAuditMixin, MirrorAdmin):
    list_display = ("taisly_id", "workspace", "from_platform", "paused", "created_at")
    list_filter = ("paused",)
    search_fields = ("workspace__name", "=taisly_id")
    list_select_related = ("workspace", "from_platform")


@admin.register(KeyBudget)
class KeyBudgetAdmin(ReadOnlyAdmin):
    list_display = ("fingerprint_short",)
    search_fields = ("=fingerprint",)

    @admin.display(description=_("shared-key fingerprint"))
    def fingerprint_short(self, obj) -> str:
        return f"{obj.fingerprint[:12]}…"


@admin.register(TaislyRequest)
class TaislyRequestAdmin(ReadOnlyAdmin):
    """The ledger is what the governor counts: nobody edits it."""

    list_display = (
        "started_at",
        "endpoint",
        "status",
        "error_code",
        "kind",
        "duration_ms",
        "workspace",
        "done",
    )
    list_filter = ("kind", "status", "endpoint", "done")
    search_fields = ("endpoint", "error_code", "connection__workspace__name", "=fingerprint")
    list_select_related = ("connection__workspace",)
    date_hierarchy = "started_at"
    show_full_result_count = False
    exclude = ("connection",)

    def get_queryset(self, request):
        # The connection's key is never decrypted for the ledger.
        return super().get_queryset(request).defer("connection__api_key")

    @admin.display(description=_("workspace"))
    def workspace(self, obj) -> str:
        return obj.connection.workspace.name if obj.connection else "—"


# --- Alerts and webhooks ------------------------------------------------------------------------


class AlertReadInline(admin.TabularInline):
    model = AlertRead
    extra = 0
    can_delete = False
    fields = ("user", "read_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Alert)
class AlertAdmin(StaffAuditMixin, MirrorAdmin):
    """Alerts are raised by sync and the minute's scan, exactly once: never made or edited here."""

    list_display = ("kind", "workspace", "error_code", "created_at", "resolved_at", "emailed_at")
    list_filter = ("kind", "created_at")
    search_fields = ("workspace__name", "error_code", "message")
    list_select_related = ("workspace",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [AlertReadInline]


@admin.register(AlertRead)
class AlertReadAdmin(StaffAuditMixin, MirrorAdmin):
    audit_workspace = "alert__workspace"
    list_display = ("alert", "user", "read_at")
    search_fields = ("user__email", "alert__workspace__name")
    list_select_related = ("alert", "user")


@admin.register(AlertPreference)
class AlertPreferenceAdmin(StaffAuditMixin):
    list_display = ("user", "workspace", "email", "updated_at")
    list_filter = ("email",)
    search_fields = ("user__email", "workspace__name")
    list_select_related = ("user", "workspace")
    readonly_fields = ("user", "workspace", "digest_until", "updated_at")

    def has_add_permission(self, request) -> bool:
        return False


class WebhookHostSearch:
    """Search webhooks by the start of their host, never by the rest of the URL: a Slack URL's
    path is its credential, and a search that matches on it confirms a guess of it."""

    url_path = "url"  # from the admin's model to WebhookEndpoint.url
    HOST = re.compile(r"[\w.\-]+(:\d+)?")

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip().lower()
        if self.HOST.fullmatch(term):
            hosts = Q()
            for scheme in ("https://", "http://"):
                hosts |= Q(**{f"{self.url_path}__istartswith": scheme + term})
            queryset |= self.model._default_manager.filter(hosts)
        return queryset, may_have_duplicates


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(WebhookHostSearch, StaffAuditMixin):
    """The signing secret is never shown or editable here (only whether one is set), nor the
    URL past its host; staff may disable an endpoint that misbehaves."""

    list_display = ("url_origin", "workspace", "format", "enabled", "failing_since", "has_secret")
    list_filter = ("format", "enabled")
    search_fields = ("workspace__name",)
    list_select_related = ("workspace",)
    exclude = ("secret", "url")
    readonly_fields = (
        "workspace",
        "url_origin",
        "format",
        "events",
        "has_secret",
        "disabled_at",
        "failing_since",
        "created_by",
        "created_at",
    )

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(boolean=True, description=_("signing secret set"))
    def has_secret(self, obj) -> bool:
        return bool(obj.secret)

    @admin.display(description=_("URL (host only)"), ordering="url")
    def url_origin(self, obj) -> str:
        return obj.url_origin


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("number", "at", "status", "ok", "duration_ms", "response_head")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(WebhookHostSearch, StaffAuditMixin, MirrorAdmin):
    audit_workspace = "endpoint__workspace"
    url_path = "endpoint__url"
    list_display = ("event", "endpoint", "state", "attempts", "created_at", "delivered_at")
    list_filter = ("state", "event")
    search_fields = ("endpoint__workspace__name",)
    list_select_related = ("endpoint",)
    show_full_result_count = False
    exclude = ("payload",)
    inlines = [WebhookAttemptInline]


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(WebhookHostSearch, MirrorAdmin):
    url_path = "delivery__endpoint__url"
    list_display = ("delivery", "number", "at", "status", "ok", "duration_ms")
    list_filter = ("ok",)
    search_fields = ("delivery__endpoint__workspace__name",)
    list_select_related = ("delivery",)


@admin.register(UploadInProgress)
class UploadInProgressAdmin(MirrorAdmin):
    """Uploads being received; deleting a row frees its place at once (a dead process's row
    stops counting by itself at its expiry)."""

    list_display = ("started_at", "user", "workspace", "size", "expires_at")
    list_select_related = ("user", "workspace")
    search_fields = ("user__email", "workspace__name")


@admin.register(Draft)
class DraftAdmin(MirrorAdmin):
    """Drafts, to look at: made and edited only on their workspace's pages (the video's file
    and the storage count go with them there)."""

    list_display = ("created_at", "workspace", "author", "scheduled_at", "video_size")
    list_select_related = ("workspace", "author")
    search_fields = ("workspace__name", "author__email")


@admin.register(PostingSlot)
class PostingSlotAdmin(MirrorAdmin):
    """Posting slots, to look at: added and removed on their workspace's slots page (audited
    there, under the workspace's lock)."""

    list_display = ("workspace", "weekday", "time")
    list_select_related = ("workspace",)
    search_fields = ("workspace__name",)


@admin.register(DraftVersion)
class DraftVersionAdmin(ReadOnlyAdmin):
    """What a draft said at each step of its review: a record, never changed."""

    list_display = ("created_at", "draft", "number", "author", "video_name")
    list_select_related = ("draft", "author")
    search_fields = ("draft__workspace__name", "author__email", "description")


@admin.register(ReviewLink)
class ReviewLinkAdmin(StaffAuditMixin, MirrorAdmin):
    """Review links, to look at (and delete, audited): sent and revoked on their workspace's
    pages. The token's hash is never shown, though it could not be turned back."""

    list_display = ("created_at", "workspace", "address", "expires_at", "revoked_at")
    list_select_related = ("workspace",)
    search_fields = ("workspace__name", "address")
    exclude = ("token_hash",)


@admin.register(Comment)
class CommentAdmin(StaffAuditMixin, MirrorAdmin):
    """Comments on drafts, to look at and delete (audited in the draft's workspace)."""

    audit_workspace = "draft__workspace"
    list_display = ("created_at", "draft", "author", "author_address", "internal")
    list_select_related = ("draft", "author")
    search_fields = ("draft__workspace__name", "author__email", "author_address", "body")


@admin.register(DraftWatch)
class DraftWatchAdmin(StaffAuditMixin, MirrorAdmin):
    """Who watches which draft (set by the members themselves on the draft page)."""

    audit_workspace = "draft__workspace"
    list_display = ("created_at", "draft", "user", "watching")
    list_select_related = ("draft", "user")
    search_fields = ("draft__workspace__name", "user__email")
