"""The sandbox's own URLconf (served only by `manage.py sandbox`, never by the dashboard)."""

from django.urls import include, path, re_path

from sandbox import control, index, views

# Production paths, so TAISLY_BASE_URL=http://127.0.0.1:8765/api/private just works.
api = [
    path("user/api-key", views.key_info),
    path("user/api-key/generate", views.key_generate),
    path("user/api-key/revoke", views.key_revoke),
    path("platform/platforms", views.platforms),
    path("post", views.post_create),
    path("post/history", views.post_history),
    path("post/cancelSchedule", views.post_cancel),
    path("reposts", views.reposts),
    path("repost/add", views.repost_add),
    path("repost/delete", views.repost_delete),
    path("repost/pause", views.repost_pause),
]

urlpatterns = [
    # The sandbox names itself and lists its endpoints where a person would look first.
    path("", index.index),
    path("api/private", index.index),
    path("api/private/", index.index),
    path("api/private/", include(api)),
    path("control/accounts", control.accounts),
    path("control/clock", control.clock_move),
    path("control/faults", control.fault_queue),
    path("control/platforms", control.platform_connection),
    path("control/state", control.state),
    # Everything else answers with the error envelope, not an HTML page.
    re_path(r"", control.not_found),
]

handler400 = control.request_refused
handler403 = control.forbidden
handler404 = control.not_found
handler500 = control.server_error
