"""posting's pages, all under /w/<workspace code>/ (included from taisly_dash/urls.py)."""

from django.urls import path

from posting.views import calendar, compose, history, platforms, posts, reposts

app_name = "posting"
urlpatterns = [
    # --- history, posts, calendar, accounts ---
    path("posts/", history.history, name="history"),
    path("posts/sync/", history.history_sync, name="sync"),
    path("posts/<uuid:post_code>/", posts.post_detail, name="post"),
    path("posts/<uuid:post_code>/cancel/", posts.post_cancel_view, name="post_cancel"),
    path("calendar/", calendar.calendar_month, name="calendar"),
    path("calendar/week/", calendar.calendar_week, name="calendar_week"),
    path("accounts/", platforms.platforms, name="platforms"),
    path("accounts/sync/", platforms.platforms_sync, name="platforms_sync"),
    # --- repost rules ---
    path("reposts/", reposts.rule_list, name="reposts"),
    path("reposts/add/", reposts.rule_add, name="repost_add"),
    path("reposts/sync/", reposts.rules_sync, name="reposts_sync"),
    path("reposts/<str:rule_id>/pause/", reposts.rule_pause, name="repost_pause"),
    path("reposts/<str:rule_id>/resume/", reposts.rule_resume, name="repost_resume"),
    path("reposts/<str:rule_id>/delete/", reposts.rule_delete, name="repost_delete"),
    # --- compose and upload ---
    path("posts/new/", compose.compose, name="compose"),
    path(
        "posts/<uuid:post_code>/progress/",
        compose.post_progress,
        name="post_progress",
    ),
    path(
        "posts/<uuid:post_code>/retry-send/",
        compose.post_retry_send,
        name="post_retry_send",
    ),
    path(
        "posts/<uuid:post_code>/send-again/",
        compose.post_send_again,
        name="post_send_again",
    ),
    path("posts/<uuid:post_code>/adopt/", compose.post_adopt, name="post_adopt"),
    path("posts/<uuid:post_code>/give-up/", compose.post_give_up, name="post_give_up"),
    path("posts/<uuid:post_code>/recheck/", compose.post_recheck, name="post_recheck"),
    # --- end compose and upload ---
]
