from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from accounts import views_auth
from accounts.access import require_staff_two_factor
from posting.alerts import views as alert_views
from posting.approvals import views as approval_views
from posting.planning import views as planning_views
from posting.reporting import views as reporting_views
from taisly_dash import views
from taisly_dash.metrics import views as metrics_views

# The admin logs in through allauth's log-in, so its rate limits and two-factor step apply too;
# and in production staff set up two-factor sign-in before any admin page, as for oversight.
admin.autodiscover()
admin.site.login = secure_admin_login(admin.site.login)
_admin_has_permission = admin.site.has_permission


def _admin_has_permission_with_two_factor(request) -> bool:
    allowed = _admin_has_permission(request)
    if allowed:
        require_staff_two_factor(request)
    return allowed


admin.site.has_permission = _admin_has_permission_with_two_factor

urlpatterns = [
    path("", reporting_views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    # Prometheus, with METRICS_TOKEN only (a 404 without it set).
    path("metrics", metrics_views.metrics, name="metrics"),
    # allauth's views with what is ours on top (accounts/views_auth.py), then allauth's own:
    # log-in, sign-up, email verification and change, password reset and change, two-factor.
    path("login/", views_auth.LoginView.as_view(), name="account_login"),
    path("signup/", views_auth.SignupView.as_view(), name="account_signup"),
    path(
        "password/change/",
        views_auth.PasswordChangeView.as_view(),
        name="account_change_password",
    ),
    path("password/reset/", views_auth.PasswordResetView.as_view(), name="account_reset_password"),
    path(
        "confirm-email/<str:key>/",
        views_auth.ConfirmEmailView.as_view(),
        name="account_confirm_email",
    ),
    path("", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # People and workspaces: profile, invitations, /w/<code>/ pages.
    path("", include("accounts.urls")),
    # A workspace's Taisly key: connect, regenerate, revoke, disconnect.
    path("w/<uuid:code>/taisly/", include("posting.connection.urls")),
    # Posting: history, posts, calendar, connected accounts (and compose, reposts).
    path("w/<uuid:code>/", include("posting.urls")),
    # A review link's holder (no account): the drafts the link is for, nothing else.
    path("review/", include("posting.reviewlinks.urls")),
    # Unread alerts across every workspace of the user (an agency's count).
    path("alerts/", alert_views.alerts_everywhere, name="alerts_everywhere"),
    # Posts waiting for the user's review in every workspace (an agency's reviewers).
    path("reviews/", approval_views.reviews_everywhere, name="reviews_everywhere"),
    # One calendar over every workspace of the user (the view is posting.planning's).
    path("calendar/", planning_views.calendar_everywhere, name="calendar_everywhere"),
    path(
        "calendar/week/",
        planning_views.calendar_everywhere,
        {"week": True},
        name="calendar_everywhere_week",
    ),
    # Failed posts across every workspace of the user (the agency's failure inbox).
    path("failures/", reporting_views.failure_inbox, name="failure_inbox"),
    # Staff oversight of every workspace.
    path("oversight/", include("oversight.urls")),
]
