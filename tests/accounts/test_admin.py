"""The Django admin: every model is there, keys never show, the ledger cannot be edited, and a
staff change to a workspace's rows is written to that workspace's audit log as a staff action."""

from __future__ import annotations

import re
import secrets

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, TaislyConnection, User, Workspace
from posting.connection import keys
from posting.models import TaislyRequest
from tests.posting.factories import make_platforms, make_post

pytestmark = pytest.mark.django_db

KEY_LIKE = re.compile(r"taisly_[0-9a-f]{16,}")


@pytest.fixture
def root(db) -> User:
    return User.objects.create_superuser(email="root@example.test", password="x-pass-12345")


@pytest.fixture
def admin_client(client, root):
    client.force_login(root)
    return client


@pytest.fixture
def key(workspace, alice) -> str:
    api_key = "taisly_" + secrets.token_hex(32)
    keys.connection_store(
        workspace=workspace,
        api_key=api_key,
        plan=TaislyConnection.Plan.STARTER,
        actor=alice,
        verified=True,
    )
    return api_key


def test_every_model_of_ours_and_django_q_is_registered():
    ours = [
        m
        for m in apps.get_models()
        if m._meta.app_label in ("accounts", "posting")
        # Through tables of a many-to-many are edited with their parents.
        and not m._meta.auto_created
    ]
    missing = [m._meta.label for m in ours if not admin.site.is_registered(m)]
    assert missing == []
    from django_q.models import Failure, Schedule, Success

    assert all(admin.site.is_registered(m) for m in (Schedule, Success, Failure))


def test_every_changelist_opens_with_useful_columns(admin_client, key, workspace):
    make_post(workspace, make_platforms(workspace, ["TikTok"]), {"TikTok": "FAILED:CODE"})
    TaislyRequest.objects.create(
        connection=workspace.taisly_connection, endpoint="history", status=200
    )
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in ("accounts", "posting", "django_q"):
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert key not in response.content.decode(), url
        if model._meta.app_label != "django_q":
            assert model_admin.list_display != ("__str__",), model._meta.label
            assert model_admin.search_fields, model._meta.label


def test_django_q_tasks_and_schedules_are_reachable_from_the_index(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:django_q_schedule_changelist") in page
    assert reverse("admin:django_q_success_changelist") in page
    assert admin_client.get(reverse("admin:django_q_schedule_add")).status_code == 200


def test_the_key_is_never_shown_nor_editable(admin_client, key, workspace):
    connection = workspace.taisly_connection
    url = reverse("admin:accounts_taislyconnection_change", args=[connection.pk])
    page = admin_client.get(url).content.decode()
    assert key not in page and not KEY_LIKE.search(page)
    assert 'name="api_key"' not in page
    assert connection.key_hint in page
    # Posting to it changes nothing (no change permission at all).
    admin_client.post(url, {"api_key": "taisly_" + "0" * 64, "plan": "PRO"})
    connection.refresh_from_db()
    assert connection.api_key == key and connection.plan == TaislyConnection.Plan.STARTER


def test_the_ledger_is_read_only(admin_client, key, workspace):
    row = TaislyRequest.objects.create(
        connection=workspace.taisly_connection, endpoint="history", status=200
    )
    model_admin = admin.site._registry[TaislyRequest]
    request = type("R", (), {"user": User.objects.get(email="root@example.test")})()
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, row)
    assert not model_admin.has_delete_permission(request, row)
    delete = reverse("admin:posting_taislyrequest_delete", args=[row.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert TaislyRequest.objects.filter(pk=row.pk).exists()


def test_a_staff_rename_is_audited_in_the_workspace_as_a_staff_action(
    admin_client, root, workspace, alice
):
    url = reverse("admin:accounts_workspace_change", args=[workspace.pk])
    response = admin_client.post(
        url,
        {
            "name": "Acme Renamed",
            "kind": workspace.kind,
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-id": str(workspace.memberships.get().pk),
            "memberships-0-workspace": str(workspace.pk),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action=AuditEvent.Action.STAFF_CHANGED)
    assert event.workspace == workspace and event.actor == root
    assert event.details["staff_action"] is True
    assert event.details["fields"] == ["name"]
    assert event.details["model"] == "accounts.workspace"


def test_a_staff_delete_of_a_post_is_audited_before_it_goes(admin_client, root, workspace):
    post = make_post(workspace, make_platforms(workspace, ["TikTok"]), {"TikTok": "SUCCESS"})
    url = reverse("admin:posting_post_delete", args=[post.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    event = AuditEvent.objects.get(action=AuditEvent.Action.STAFF_DELETED)
    assert event.workspace == workspace and event.details["model"] == "posting.post"
    assert event.created_at <= timezone.now()


def test_a_workspace_deleted_by_staff_keeps_its_name_in_the_event(admin_client, workspace):
    url = reverse("admin:accounts_workspace_delete", args=[workspace.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.STAFF_DELETED)
    assert event.workspace is None and event.workspace_name == "Acme"


def test_a_webhook_secret_is_never_shown_and_disabling_it_is_audited(admin_client, workspace):
    from posting.models import WebhookEndpoint

    secret = "whsec_" + secrets.token_hex(24)
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace, url="https://hooks.example.test/a", format="json", secret=secret
    )
    changelist = admin_client.get(reverse("admin:posting_webhookendpoint_changelist"))
    url = reverse("admin:posting_webhookendpoint_change", args=[endpoint.pk])
    page = admin_client.get(url).content.decode()
    for text in (changelist.content.decode(), page):
        assert secret not in text
    assert 'name="secret"' not in page
    response = admin_client.post(url, {"secret": "whsec_replaced"})  # enabled unticked
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.secret == secret and endpoint.enabled is False
    event = AuditEvent.objects.get(action=AuditEvent.Action.STAFF_CHANGED)
    assert event.workspace == workspace and event.details["fields"] == ["enabled"]
    assert secret not in str(event.details)


def test_a_workspace_with_alerts_and_webhooks_can_still_be_deleted(admin_client, workspace):
    from posting.models import Alert, WebhookAttempt, WebhookDelivery, WebhookEndpoint

    post = make_post(workspace, make_platforms(workspace, ["TikTok"]), {"TikTok": "FAILED:X"})
    alert = Alert.objects.create(workspace=workspace, post=post, kind="send_failed")
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace, url="https://hooks.example.test/a", format="json"
    )
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, alert=alert, event="alert")
    WebhookAttempt.objects.create(delivery=delivery, number=1)
    url = reverse("admin:accounts_workspace_delete", args=[workspace.pk])
    r = admin_client.post(url, {"post": "yes"})
    assert r.status_code == 302, (r.context["perms_lacking"], r.context["protected"])
    assert not Workspace.objects.filter(pk=workspace.pk).exists()


def test_deleting_a_workspace_with_posts_and_rules_takes_its_platforms_along(workspace):
    # PROTECT on a result's platform once made this raise ProtectedError (a 500 for an owner
    # deleting a client workspace); RESTRICT lets the whole workspace go.
    from posting.models import Platform, PostResult, RepostRule

    platforms = make_platforms(workspace, ["TikTok", "X"])
    make_post(workspace, platforms, {"TikTok": "FAILED:X", "X": "SUCCESS"})
    RepostRule.objects.create(
        workspace=workspace, taisly_id="r1", from_platform=platforms["TikTok"]
    ).to_platforms.set([platforms["X"]])
    with pytest.raises(Exception, match="restricted"):
        platforms["TikTok"].delete()
    workspace.delete()
    assert not Platform.objects.exists() and not PostResult.objects.exists()
