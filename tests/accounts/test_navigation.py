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


def test_the_navigation_cache_stays_small_for_a_user_with_many_workspaces():
    """An entry holds every membership, and a user has one per workspace they open: a user
    with hundreds of workspaces (creation is open) is rendered without the cache."""
    import tracemalloc
    import uuid
    from types import SimpleNamespace

    from accounts.templatetags import navigation

    navigation._render.cache_clear()
    memberships = [
        SimpleNamespace(
            workspace=SimpleNamespace(
                code=uuid.uuid4(), name="&<" * 50, kind="client", approval_workflow="internal"
            )
        )
        for _ in range(300)
    ]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for membership in memberships:
            nav = SimpleNamespace(
                memberships=memberships,
                current=membership.workspace,
                role="owner",
                is_owner=True,
                can_write=True,
                is_agency=True,
            )
            html = navigation.workspace_nav({"nav": nav})
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        navigation._render.cache_clear()
    assert "&amp;&lt;" in html
    assert grown < 5_000_000, f"{grown / 1e6:.0f} MB held by the navigation cache"


def test_the_memberships_read_for_a_request_are_its_current_users(alice, charlie, workspace):
    """A log-in or log-out within a request replaces request.user: access is then decided on
    the new user's memberships, not on those read for the previous one."""
    import pytest
    from django.http import Http404
    from django.test import RequestFactory

    from accounts.access import get_workspace_for_user

    request = RequestFactory().get("/")
    request.user = alice
    assert get_workspace_for_user(request, workspace.code).workspace == workspace

    request.user = charlie
    with pytest.raises(Http404):
        get_workspace_for_user(request, workspace.code)
