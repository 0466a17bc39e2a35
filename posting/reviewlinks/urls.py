"""The link holder's pages, under /review/ (included from taisly_dash/urls.py)."""

from django.urls import path

from posting.reviewlinks import views

app_name = "review"
urlpatterns = [
    path("", views.page, name="page"),
    path("<uuid:draft_code>/video/", views.video, name="video"),
    path("<uuid:draft_code>/decide/", views.decide, name="decide"),
    path("<uuid:draft_code>/comment/", views.comment, name="comment"),
    # Last: any other single segment is a token (at most a few dozen characters).
    path("<str:token>/", views.enter, name="enter"),
]
