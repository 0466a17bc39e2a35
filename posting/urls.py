"""posting's pages, all under /w/<workspace code>/ (included from taisly_dash/urls.py).

Each block names the room whose ``views.py`` serves it: ``posting/<room>/views.py``.
"""

from django.urls import path

from posting.alerts import views as alerts
from posting.approvals import views as approvals
from posting.connection import views as connection
from posting.mirror import views as mirror
from posting.planning import views as planning
from posting.reporting import views as reporting
from posting.reviewlinks import views as reviewlinks
from posting.sending import views as sending

app_name = "posting"
urlpatterns = [
    # --- history, posts, calendar, accounts ---
    path("posts/", reporting.history, name="history"),
    path("posts/sync/", mirror.history_sync, name="sync"),
    path("posts/<uuid:post_code>/", sending.post_detail, name="post"),
    path("posts/<uuid:post_code>/cancel/", sending.post_cancel_view, name="post_cancel"),
    path("posts/<uuid:post_code>/seen/", sending.post_seen, name="post_seen"),
    path("posts/<uuid:post_code>/thumbnail/", sending.post_thumbnail, name="post_thumbnail"),
    path("calendar/", planning.calendar_month, name="calendar"),
    path("calendar/week/", planning.calendar_week, name="calendar_week"),
    path("calendar/posts/<uuid:post_code>/move/", planning.move_post, name="calendar_move_post"),
    path(
        "calendar/drafts/<uuid:draft_code>/move/", planning.move_draft, name="calendar_move_draft"
    ),
    path("accounts/", mirror.platforms, name="platforms"),
    path("charts/", reporting.workspace_charts, name="charts"),
    path("accounts/sync/", mirror.platforms_sync, name="platforms_sync"),
    # --- repost rules ---
    path("reposts/", mirror.rule_list, name="reposts"),
    path("reposts/add/", mirror.rule_add, name="repost_add"),
    path("reposts/sync/", mirror.rules_sync, name="reposts_sync"),
    path("reposts/<str:rule_id>/pause/", mirror.rule_pause, name="repost_pause"),
    path("reposts/<str:rule_id>/resume/", mirror.rule_resume, name="repost_resume"),
    path("reposts/<str:rule_id>/delete/", mirror.rule_delete, name="repost_delete"),
    # --- compose and upload ---
    path("posts/new/", sending.compose, name="compose"),
    path(
        "posts/<uuid:post_code>/progress/",
        sending.post_progress,
        name="post_progress",
    ),
    path(
        "posts/<uuid:post_code>/retry-send/",
        sending.post_retry_send,
        name="post_retry_send",
    ),
    path(
        "posts/<uuid:post_code>/send-again/",
        sending.post_send_again,
        name="post_send_again",
    ),
    path("posts/<uuid:post_code>/adopt/", sending.post_adopt, name="post_adopt"),
    path("posts/<uuid:post_code>/give-up/", sending.post_give_up, name="post_give_up"),
    path("posts/<uuid:post_code>/recheck/", sending.post_recheck, name="post_recheck"),
    path("posts/<uuid:post_code>/edit/", sending.post_edit_view, name="post_edit"),
    # --- drafts ---
    path("drafts/", sending.draft_list, name="drafts"),
    path("drafts/new/", sending.draft_create, name="draft_create"),
    path("drafts/<uuid:draft_code>/", sending.draft_detail, name="draft"),
    path("drafts/<uuid:draft_code>/send/", sending.draft_send, name="draft_send"),
    path("drafts/<uuid:draft_code>/delete/", sending.draft_delete, name="draft_delete"),
    path("drafts/<uuid:draft_code>/thumbnail/", sending.draft_thumbnail, name="draft_thumbnail"),
    path("drafts/<uuid:draft_code>/video/", sending.draft_video, name="draft_video"),
    # --- comments and review links of a draft ---
    path("drafts/<uuid:draft_code>/review/", reviewlinks.draft_review, name="draft_review"),
    path("drafts/<uuid:draft_code>/review/send/", reviewlinks.link_send, name="review_link_send"),
    path(
        "drafts/<uuid:draft_code>/review/<uuid:link_code>/revoke/",
        reviewlinks.link_revoke,
        name="review_link_revoke",
    ),
    path("drafts/<uuid:draft_code>/comments/", reviewlinks.comment_add, name="draft_comment"),
    # --- posting slots and the queue ---
    path("queue/", sending.queue_list, name="queue"),
    path("queue/slots/", sending.slot_list, name="slots"),
    path("queue/slots/<uuid:slot_code>/remove/", sending.slot_remove, name="slot_remove"),
    path("queue/<uuid:post_code>/move/", sending.queue_move, name="queue_move"),
    # --- end compose and upload ---
    # --- approvals: review of posts before they reach Taisly ---
    path("reviews/", approvals.review_queue, name="reviews"),
    path("reviews/badge/", approvals.review_badge, name="review_badge"),
    path("reviews/new/", approvals.review_new, name="review_new"),
    path("reviews/workflow/", approvals.workflow_set, name="approval_workflow"),
    path("drafts/<uuid:draft_code>/submit/", approvals.draft_submit, name="draft_submit"),
    path("drafts/<uuid:draft_code>/decide/", approvals.draft_decide, name="draft_decide"),
    path("drafts/<uuid:draft_code>/watch/", approvals.draft_watch, name="draft_watch"),
    # --- end approvals ---
    # --- alerts, alert emails, webhooks, retry of failed platforms ---
    path("alerts/", alerts.alert_list, name="alerts"),
    path("alerts/badge/", alerts.alert_badge, name="alert_badge"),
    path("alerts/read/", alerts.alerts_read_all, name="alerts_read_all"),
    path("alerts/<uuid:alert_code>/read/", alerts.alert_read, name="alert_read"),
    path("alerts/emails/", alerts.alert_settings, name="alert_settings"),
    path("webhooks/", alerts.webhook_list, name="webhooks"),
    path("webhooks/<uuid:endpoint>/", alerts.webhook_detail, name="webhook"),
    path("webhooks/<uuid:endpoint>/test/", alerts.webhook_test, name="webhook_test"),
    path("webhooks/<uuid:endpoint>/toggle/", alerts.webhook_toggle, name="webhook_toggle"),
    path("webhooks/<uuid:endpoint>/delete/", alerts.webhook_delete, name="webhook_delete"),
    path(
        "webhooks/<uuid:endpoint>/deliveries/<uuid:delivery>/redeliver/",
        alerts.webhook_redeliver,
        name="webhook_redeliver",
    ),
    path(
        "posts/<uuid:post_code>/retry-failed/",
        sending.post_retry_failed,
        name="post_retry_failed",
    ),
    # --- end alerts ---
    # --- quota meter ---
    path("quota/", connection.quota_meter, name="quota_meter"),
]
