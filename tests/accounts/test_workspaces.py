from __future__ import annotations

from django.urls import reverse

from accounts.models import AuditEvent, Membership, TaislyConnection, Workspace


def _actions(workspace=None) -> list[str]:
    events = AuditEvent.objects.all() if workspace is None else workspace.audit_events.all()
    return list(events.values_list("action", flat=True))


def test_creating_a_client_workspace_makes_the_creator_its_owner(charlie, login):
    client = login(charlie)
    response = client.post(reverse("accounts:workspace_create"), {"name": "  Globex   Corp "})
    workspace = Workspace.objects.get(name="Globex Corp")
    assert workspace.kind == Workspace.Kind.CLIENT
    assert response["Location"] == reverse("accounts:workspace", kwargs={"code": workspace.code})
    assert Membership.objects.get(workspace=workspace, user=charlie).is_owner
    assert _actions(workspace) == ["workspace.created"]


def test_a_workspace_needs_a_name(charlie, login):
    response = login(charlie).post(reverse("accounts:workspace_create"), {"name": "   "})
    assert response.status_code == 422
    assert not Workspace.objects.filter(kind="client", memberships__user=charlie).exists()


def test_the_workspace_home_shows_name_role_members_and_the_key_link(
    alice, bob, vera, workspace, login
):
    response = login(vera).get(reverse("accounts:workspace", kwargs={"code": workspace.code}))
    page = response.content.decode()
    assert "Acme" in page
    assert 'data-testid="role">Viewer<' in page
    assert 'data-testid="members-count">3<' in page
    assert reverse("taisly:detail", kwargs={"code": workspace.code}) in page


def test_the_workspace_home_says_whether_a_key_is_connected(alice, vera, workspace, login):
    url = reverse("accounts:workspace", kwargs={"code": workspace.code})
    page = login(alice).get(url).content.decode()
    assert 'data-testid="key-summary">Not connected<' in page
    assert "Connect a Taisly key" in page
    assert "Connect a Taisly key" not in login(vera).get(url).content.decode()

    connection = TaislyConnection.objects.create(
        workspace=workspace, api_key="taisly_" + "ab" * 32, key_hint="taisly_…abab", plan="PRO"
    )
    page = login(vera).get(url).content.decode()
    assert "Pro" in page and "taisly_…abab" in page and "1000 requests an hour" in page
    assert "ab" * 32 not in page

    connection.status = TaislyConnection.Status.REVOKED
    connection.save()
    page = login(vera).get(url).content.decode()
    assert 'data-testid="key-summary">Revoked<' in page
    assert "Nothing can be posted" in page


def test_home_lists_every_workspace_of_the_user(alice, workspace, login):
    page = login(alice).get(reverse("home")).content.decode()
    assert "Welcome, Alice" in page
    assert reverse("accounts:workspace", kwargs={"code": workspace.code}) in page
    personal = Workspace.objects.get(kind="personal", memberships__user=alice)
    assert reverse("accounts:workspace", kwargs={"code": personal.code}) in page


def test_the_switcher_lists_only_the_users_workspaces(alice, charlie, workspace, login):
    page = login(charlie).get(reverse("home")).content.decode()
    assert "Acme" not in page
    page = login(alice).get(reverse("accounts:members", kwargs={"code": workspace.code}))
    switcher = page.content.decode().split('data-testid="workspace-switcher"')[1]
    assert "Acme" in switcher and "Alice" in switcher


def test_two_workspaces_can_be_open_at_once(alice, workspace, login):
    """The current workspace is the URL, not the session: both answer in the same session."""
    client = login(alice)
    personal = Workspace.objects.get(kind="personal", memberships__user=alice)
    first = client.get(reverse("accounts:workspace", kwargs={"code": workspace.code}))
    second = client.get(reverse("accounts:workspace", kwargs={"code": personal.code}))
    again = client.get(reverse("accounts:workspace", kwargs={"code": workspace.code}))
    assert b'<h1 class="title">Acme</h1>' in first.content
    assert b'<h1 class="title">Alice</h1>' in second.content
    assert b'<h1 class="title">Acme</h1>' in again.content


def test_renaming_is_audited(alice, workspace, login):
    login(alice).post(
        reverse("accounts:workspace_rename", kwargs={"code": workspace.code}), {"name": "Acme 2"}
    )
    workspace.refresh_from_db()
    assert workspace.name == "Acme 2"
    event = workspace.audit_events.get(action="workspace.renamed")
    assert event.details == {"from": "Acme", "to": "Acme 2"}
    assert event.actor == alice


def test_renaming_to_nothing_shows_an_error(alice, workspace, login):
    response = login(alice).post(
        reverse("accounts:workspace_rename", kwargs={"code": workspace.code}), {"name": ""}
    )
    assert response.status_code == 422
    workspace.refresh_from_db()
    assert workspace.name == "Acme"


def test_deleting_needs_the_name_typed(alice, workspace, login):
    url = reverse("accounts:workspace_delete", kwargs={"code": workspace.code})
    response = login(alice).post(url, {"confirm_name": "acme"})
    assert response.status_code == 422
    assert b"not the workspace" in response.content
    assert Workspace.objects.filter(pk=workspace.pk).exists()


def test_deleting_removes_the_workspace_and_keeps_the_audit_event(alice, bob, workspace, login):
    code = workspace.code
    response = login(alice).post(
        reverse("accounts:workspace_delete", kwargs={"code": code}), {"confirm_name": "Acme"}
    )
    assert response["Location"] == reverse("home")
    assert not Workspace.objects.filter(code=code).exists()
    assert not Membership.objects.filter(user=bob, workspace__code=code).exists()
    event = AuditEvent.objects.get(action="workspace.deleted")
    assert (event.workspace, event.workspace_name, event.actor) == (None, "Acme", alice)
    assert event.details == {"code": str(code)}


def test_a_personal_workspace_cannot_be_deleted(alice, login):
    personal = Workspace.objects.get(kind="personal", memberships__user=alice)
    response = login(alice).post(
        reverse("accounts:workspace_delete", kwargs={"code": personal.code}),
        {"confirm_name": personal.name},
    )
    assert response.status_code == 422
    assert b"personal workspace cannot be deleted" in response.content
    assert Workspace.objects.filter(pk=personal.pk).exists()


def test_a_member_may_leave(bob, alice, workspace, login):
    client = login(bob)
    response = client.post(reverse("accounts:workspace_leave", kwargs={"code": workspace.code}))
    assert response["Location"] == reverse("home")
    assert not Membership.objects.filter(user=bob, workspace=workspace).exists()
    event = workspace.audit_events.get(action="member.removed")
    assert event.details == {"role": "editor", "left": True}
    assert (
        client.get(reverse("accounts:workspace", kwargs={"code": workspace.code})).status_code
        == 404
    )


def test_the_last_owner_may_not_leave(alice, workspace, login):
    response = login(alice).post(
        reverse("accounts:workspace_leave", kwargs={"code": workspace.code})
    )
    assert response.status_code == 422
    assert b"always keeps at least one owner" in response.content
    assert Membership.objects.filter(user=alice, workspace=workspace).exists()


def test_home_has_a_fixed_number_of_queries_whatever_the_workspace_count(
    alice, bob, workspace, login, django_assert_num_queries
):
    client = login(alice)
    client.get(reverse("home"))
    for round_ in range(2):
        # 1 session, 2 user, 3 keys shared by several workspaces (their staleness), 4 count,
        # 5 the page of the user's workspaces with every health figure (posting.reporting.health),
        # 6 their sparklines, 7 navigation memberships, 8 posts waiting for her review.
        with django_assert_num_queries(8):
            page = client.get(reverse("home"))
        assert page.content.decode().count('data-testid="health-row"') == 2 + 3 * round_
        for i in range(3):
            extra = Workspace.objects.create(name=f"Client {round_}-{i}")
            Membership.objects.create(workspace=extra, user=alice, role="owner")
            Membership.objects.create(workspace=extra, user=bob, role="editor")


def test_the_workspace_home_has_a_fixed_number_of_queries(
    alice, bob, vera, workspace, login, django_assert_num_queries
):
    client = login(alice)
    url = reverse("accounts:workspace", kwargs={"code": workspace.code})
    client.get(url)
    # 1 session, 2 user, 3 the user's memberships with their workspaces (access and
    # navigation), 4 member count, 5 the Taisly connection (key deferred), then the posting
    # block (tests/posting/test_overview.py): 6 unseen failures, 7 latest posts (with their
    # results and targets), 8 next scheduled.
    with django_assert_num_queries(8):
        client.get(url)
