"""posting's pages, all under /w/<workspace code>/ (included from taisly_dash/urls.py)."""

from django.urls import path

from posting.views import calendar, history, platforms, posts

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
]
