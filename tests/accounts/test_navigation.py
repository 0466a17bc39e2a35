"""The navigation's workspace part is rendered once per set of inputs: never stale, never shared."""

from __future__ import annotations

import re

from django.urls import reverse

from accounts.models import Membership


def _nav(client, workspace) -> str:
    html = client.get(reverse("accounts:workspace", kwargs={"code": workspace.code}))
    match = re.search(
        r'<div class="navbar-start">(.*?)<div class="navbar-end">', html.content.decode(), re.S
    )
    assert match
    return match.group(1)


def test_a_renamed_workspace_and_a_new_role_show_at_once(alice, workspace, login):
    client = login(alice)
    assert "Settings" in _nav(client, workspace)

    workspace.name = "Acme Renamed"
    workspace.save()
    Membership.objects.filter(user=alice).update(role=Membership.Role.VIEWER)
    nav = _nav(client, workspace)

    assert "Acme Renamed" in nav
    assert "Settings" not in nav and "New post" not in nav


def test_each_member_sees_their_own_role_and_language(alice, vera, workspace, login):
    vera.language = "id"
    vera.save()

    owner, viewer = _nav(login(alice), workspace), _nav(login(vera), workspace)

    assert "Settings" in owner and "New post" in owner
    assert "Settings" not in viewer and "New post" not in viewer
    assert "Kalender" in viewer and "Calendar" in owner
