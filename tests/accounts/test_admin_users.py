"""Deleting people in the admin never leaves a workspace with members but no owner."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditEvent, Membership, TaislyConnection, User, Workspace
from accounts.services import user_sole_ownerships

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = User.objects.create_superuser(email="root@example.test", password="x-pass-12345")
    client.force_login(admin)
    return client


def test_the_sole_owner_of_a_shared_workspace_is_named(alice, bob, workspace, charlie):
    assert user_sole_ownerships(user=alice) == [workspace]
    # Bob only edits; charlie owns only his own personal workspace, where he is alone.
    assert user_sole_ownerships(user=bob) == []
    assert user_sole_ownerships(user=charlie) == []
    Membership.objects.filter(user=bob, workspace=workspace).update(role="owner")
    assert user_sole_ownerships(user=alice) == []


def test_the_admin_refuses_to_delete_the_last_owner_and_names_the_workspace(
    admin_client, alice, bob, workspace
):
    url = reverse("admin:accounts_user_delete", args=[alice.pk])
    change = reverse("admin:accounts_user_change", args=[alice.pk])
    for response in (admin_client.get(url), admin_client.post(url, {"post": "yes"})):
        assert response.status_code == 302 and response.url == change
    page = admin_client.get(change).content.decode()
    # (The admin capitalises a message's first letter.)
    assert "lice@example.test is the last owner of “Acme”, which has other members" in page
    assert User.objects.filter(pk=alice.pk).exists()


def test_the_admin_deletes_someone_who_owns_no_shared_workspace(admin_client, bob, charlie):
    url = reverse("admin:accounts_user_delete", args=[charlie.pk])
    assert admin_client.get(url).status_code == 200
    admin_client.post(url, {"post": "yes"})
    assert not User.objects.filter(pk=charlie.pk).exists()
    # His personal workspace, where he was alone, has no members left to strand.
    assert not Membership.objects.filter(user_id=charlie.pk).exists()


def test_bulk_delete_including_the_last_owner_deletes_nobody(admin_client, alice, bob, workspace):
    changelist = reverse("admin:accounts_user_changelist")
    action = {"action": "delete_selected", "_selected_action": [alice.pk, bob.pk]}
    confirm = admin_client.post(changelist, action)
    assert "permission to delete" in confirm.content.decode()
    assert admin_client.post(changelist, {**action, "post": "yes"}).status_code == 403
    assert User.objects.filter(pk__in=[alice.pk, bob.pk]).count() == 2


def test_the_admin_deletes_a_users_lonely_workspaces_with_their_keys(
    admin_client, alice, bob, workspace, charlie
):
    """Deleting a user in the admin goes through ``user_delete``: where they were alone the
    workspace goes, with its stored key; where others remain, the log says they left."""
    personal = Workspace.objects.get(memberships__user=charlie, kind=Workspace.Kind.PERSONAL)
    TaislyConnection.objects.create(workspace=personal, api_key="taisly_" + "ab" * 32)
    Membership.objects.create(workspace=workspace, user=charlie, role="viewer")
    admin_client.post(reverse("admin:accounts_user_delete", args=[charlie.pk]), {"post": "yes"})
    assert not User.objects.filter(pk=charlie.pk).exists()
    assert not Workspace.objects.filter(pk=personal.pk).exists()
    assert not TaislyConnection.objects.filter(workspace_id=personal.pk).exists()
    left = AuditEvent.objects.get(workspace=workspace, action=AuditEvent.Action.MEMBER_REMOVED)
    assert left.target == "charlie@example.test"
    assert left.details == {"role": "viewer", "left": False, "account_deleted": True}
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.WORKSPACE_DELETED, workspace_name=personal.name
    ).exists()


def test_a_bulk_delete_goes_through_the_service_too(admin_client, charlie):
    personal = Workspace.objects.get(memberships__user=charlie)
    changelist = reverse("admin:accounts_user_changelist")
    admin_client.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [charlie.pk], "post": "yes"},
    )
    assert not User.objects.filter(pk=charlie.pk).exists()
    assert not Workspace.objects.filter(pk=personal.pk).exists()
