from django.urls import path

from posting.connection import views

app_name = "taisly"
urlpatterns = [
    path("", views.detail, name="detail"),
    path("connect/", views.connect, name="connect"),
    path("regenerate/", views.regenerate, name="regenerate"),
    path("revoke/", views.revoke, name="revoke"),
    path("disconnect/", views.disconnect, name="disconnect"),
]
