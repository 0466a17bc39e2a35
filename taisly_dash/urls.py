from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.forms import EmailAuthenticationForm
from posting.views import alerts as alert_views
from taisly_dash import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path(
        "login/",
        auth_views.LoginView.as_view(authentication_form=EmailAuthenticationForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # People and workspaces: sign-up, profile, invitations, /w/<code>/ pages.
    path("", include("accounts.urls")),
    # A workspace's Taisly key: connect, regenerate, revoke, disconnect.
    path("w/<uuid:code>/taisly/", include("accounts.urls_keys")),
    # Posting: history, posts, calendar, connected accounts (and compose, reposts).
    path("w/<uuid:code>/", include("posting.urls")),
    # Unread alerts across every workspace of the user (an agency's count).
    path("alerts/", alert_views.alerts_everywhere, name="alerts_everywhere"),
    # Staff oversight of every workspace.
    path("oversight/", include("oversight.urls")),
]
