from django.urls import path

from accounts import views, views_auth

app_name = "accounts"
urlpatterns = [
    path("profile/", views.profile, name="profile"),
    path("profile/delete/", views.account_delete, name="account_delete"),
    path("language/", views.language, name="language"),
    path(
        "email/verify/send/",
        views_auth.email_verification_resend,
        name="email_verification_resend",
    ),
    path("invitations/<str:token>/", views.invitation, name="invitation"),
    path("workspaces/new/", views.workspace_create, name="workspace_create"),
    path("w/<uuid:code>/", views.workspace_home, name="workspace"),
    path("w/<uuid:code>/settings/", views.workspace_settings, name="workspace_settings"),
    path("w/<uuid:code>/settings/rename/", views.workspace_rename, name="workspace_rename"),
    path(
        "w/<uuid:code>/settings/time-zone/", views.workspace_time_zone, name="workspace_time_zone"
    ),
    path(
        "w/<uuid:code>/settings/two-factor/",
        views_auth.workspace_require_2fa,
        name="workspace_require_2fa",
    ),
    path("w/<uuid:code>/delete/", views.workspace_delete, name="workspace_delete"),
    path("w/<uuid:code>/leave/", views.workspace_leave, name="workspace_leave"),
    path("w/<uuid:code>/members/", views.members, name="members"),
    path("w/<uuid:code>/members/invite/", views.member_invite, name="member_invite"),
    path("w/<uuid:code>/members/<uuid:member_code>/role/", views.member_role, name="member_role"),
    path(
        "w/<uuid:code>/members/<uuid:member_code>/reviewer/",
        views.member_reviewer,
        name="member_reviewer",
    ),
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
