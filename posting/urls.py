from django.urls import path

from posting.views import compose

app_name = "posting"
urlpatterns = [
    # --- compose and upload ---
    path("w/<uuid:code>/posts/new/", compose.compose, name="compose"),
    path(
        "w/<uuid:code>/posts/<uuid:post_code>/progress/",
        compose.post_progress,
        name="post_progress",
    ),
    path(
        "w/<uuid:code>/posts/<uuid:post_code>/retry-send/",
        compose.post_retry_send,
        name="post_retry_send",
    ),
    path(
        "w/<uuid:code>/posts/<uuid:post_code>/send-again/",
        compose.post_send_again,
        name="post_send_again",
    ),
    path("w/<uuid:code>/posts/<uuid:post_code>/adopt/", compose.post_adopt, name="post_adopt"),
    path(
        "w/<uuid:code>/posts/<uuid:post_code>/give-up/", compose.post_give_up, name="post_give_up"
    ),
    path(
        "w/<uuid:code>/posts/<uuid:post_code>/recheck/", compose.post_recheck, name="post_recheck"
    ),
    # --- end compose and upload ---
]
