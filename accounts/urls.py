from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("profile/", views.profile, name="profile"),
    path("profile/password/", views.password_change, name="password_change"),
    path("profile/delete/", views.account_delete, name="account_delete"),
    path("language/", views.language, name="language"),
    # Password reset: Django's views, our templates, emails through the email backend.
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(
            template_name="registration/password_reset_form.html",
            email_template_name="registration/password_reset_email.txt",
            subject_template_name="registration/password_reset_subject.txt",
            success_url=reverse_lazy("accounts:password_reset_done"),
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(
            template_name="registration/password_reset_done.html"
        ),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="registration/password_reset_confirm.html",
            success_url=reverse_lazy("accounts:password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="registration/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
    path("invitations/<str:token>/", views.invitation, name="invitation"),
    path("workspaces/new/", views.workspace_create, name="workspace_create"),
    path("w/<uuid:code>/", views.workspace_home, name="workspace"),
    path("w/<uuid:code>/settings/", views.workspace_settings, name="workspace_settings"),
    path("w/<uuid:code>/settings/rename/", views.workspace_rename, name="workspace_rename"),
    path("w/<uuid:code>/delete/", views.workspace_delete, name="workspace_delete"),
    path("w/<uuid:code>/leave/", views.workspace_leave, name="workspace_leave"),
    path("w/<uuid:code>/members/", views.members, name="members"),
    path("w/<uuid:code>/members/invite/", views.member_invite, name="member_invite"),
    path("w/<uuid:code>/members/<uuid:member_code>/role/", views.member_role, name="member_role"),
    path(
        "w/<uuid:code>/members/<uuid:member_code>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path(
        "w/<uuid:code>/invitations/<uuid:invitation_code>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("w/<uuid:code>/audit/", views.audit_log, name="audit"),
]
