from django.urls import path

from accounts import views_keys

app_name = "taisly"
urlpatterns = [
    path("", views_keys.detail, name="detail"),
    path("connect/", views_keys.connect, name="connect"),
    path("regenerate/", views_keys.regenerate, name="regenerate"),
    path("revoke/", views_keys.revoke, name="revoke"),
    path("disconnect/", views_keys.disconnect, name="disconnect"),
]
