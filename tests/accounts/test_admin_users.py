"""Deleting people in the admin never leaves a workspace with members but no owner."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Membership, User
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


def test_the_admin_refuses_to_delete_the_last_owner(admin_client, alice, bob, workspace):
    url = reverse("admin:accounts_user_delete", args=[alice.pk])
    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
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
