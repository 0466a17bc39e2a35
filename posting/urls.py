"""Posting's pages of one workspace, under /w/<code>/ (see taisly_dash/urls.py)."""

from django.urls import path

from posting.views import reposts

app_name = "posting"
urlpatterns = [
    # --- repost rules ---
    path("reposts/", reposts.rule_list, name="reposts"),
    path("reposts/add/", reposts.rule_add, name="repost_add"),
    path("reposts/sync/", reposts.rules_sync, name="reposts_sync"),
    path("reposts/<str:rule_id>/pause/", reposts.rule_pause, name="repost_pause"),
    path("reposts/<str:rule_id>/resume/", reposts.rule_resume, name="repost_resume"),
    path("reposts/<str:rule_id>/delete/", reposts.rule_delete, name="repost_delete"),
]
