from __future__ import annotations

import pytest
from django.urls import reverse

from accounts import services, views
from accounts.access import RoleRequired
from accounts.models import Membership


def _role_url(workspace, user) -> str:
    membership = Membership.objects.get(workspace=workspace, user=user)
    return reverse(
        "accounts:member_role", kwargs={"code": workspace.code, "member_code": membership.code}
    )


def _remove_url(workspace, user) -> str:
    membership = Membership.objects.get(workspace=workspace, user=user)
    return reverse(
        "accounts:member_remove", kwargs={"code": workspace.code, "member_code": membership.code}
    )


def test_the_members_page_lists_members_for_everyone_in_the_workspace(
    alice, bob, vera, workspace, login
):
    page = login(vera).get(reverse("accounts:members", kwargs={"code": workspace.code}))
    text = page.content.decode()
    for email in ("alice@example.test", "bob@example.test", "vera@example.test"):
        assert email in text
    # A viewer sees roles but no controls, and no pending invitations.
    assert 'name="role"' not in text
    assert "Invite someone" not in text
    assert "Pending invitations" not in text


def test_owners_see_controls_and_pending_invitations(alice, bob, workspace, login):
    text = (
        login(alice)
        .get(reverse("accounts:members", kwargs={"code": workspace.code}))
        .content.decode()
    )
    assert 'name="role"' in text
    assert "Invite someone" in text
    assert "Pending invitations" in text
    assert f'hx-post="{_role_url(workspace, bob)}"' in text
    assert f'action="{_role_url(workspace, bob)}"' in text  # works without JavaScript too


def test_the_members_page_has_a_fixed_number_of_queries(
    alice, bob, vera, workspace, login, django_assert_num_queries
):
    client = login(alice)
    url = reverse("accounts:members", kwargs={"code": workspace.code})
    client.get(url)
    # 1 session, 2 user, 3 the user's memberships with their workspaces (access and
    # navigation), 4 members with users, 5 pending invitations.
    with django_assert_num_queries(5):
        client.get(url)
    Membership.objects.create(
        workspace=workspace,
        user=type(alice).objects.create_user(email="more@example.test", password="x-pass-1234"),
    )
    with django_assert_num_queries(5):
        client.get(url)


def test_an_owner_changes_a_role(alice, vera, workspace, login):
    response = login(alice).post(_role_url(workspace, vera), {"role": "editor"})
    assert response["Location"] == reverse("accounts:members", kwargs={"code": workspace.code})
    assert Membership.objects.get(workspace=workspace, user=vera).role == "editor"
    event = workspace.audit_events.get(action="member.role_changed")
    assert (event.target, event.details) == (
        "vera@example.test",
        {"from": "viewer", "to": "editor"},
    )
    assert event.actor == alice


def test_with_htmx_a_role_change_answers_with_the_row_only(alice, vera, workspace, login):
    response = login(alice).post(
        _role_url(workspace, vera), {"role": "editor"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    text = response.content.decode()
    membership = Membership.objects.get(workspace=workspace, user=vera)
    assert text.strip().startswith(f'<tr id="member-{membership.code}"')
    assert "<html" not in text
    assert '<option value="editor" selected>' in text


def test_an_unknown_role_is_refused(alice, vera, workspace, login):
    response = login(alice).post(_role_url(workspace, vera), {"role": "emperor"}, follow=True)
    assert b"Choose a role" in response.content
    assert Membership.objects.get(workspace=workspace, user=vera).role == "viewer"


def test_the_last_owner_cannot_be_demoted(alice, workspace, login):
    response = login(alice).post(_role_url(workspace, alice), {"role": "viewer"}, follow=True)
    assert b"always keeps at least one owner" in response.content
    assert Membership.objects.get(workspace=workspace, user=alice).role == "owner"
    assert not workspace.audit_events.filter(action="member.role_changed").exists()


def test_the_last_owner_refusal_comes_back_in_the_row_with_htmx(alice, workspace, login):
    response = login(alice).post(
        _role_url(workspace, alice), {"role": "viewer"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 422  # htmx swaps 422 (base.html)
    assert b"always keeps at least one owner" in response.content
    assert b'<option value="owner" selected>' in response.content


def test_an_owner_can_step_down_when_another_owner_remains(alice, bob, workspace, login):
    client = login(alice)
    client.post(_role_url(workspace, bob), {"role": "owner"})
    client.post(_role_url(workspace, alice), {"role": "editor"})
    assert Membership.objects.get(workspace=workspace, user=alice).role == "editor"
    # bob is now the only owner and cannot step down either.
    response = login(bob).post(_role_url(workspace, bob), {"role": "viewer"}, follow=True)
    assert b"always keeps at least one owner" in response.content


def test_removing_asks_first_without_javascript(alice, vera, workspace, login):
    response = login(alice).get(_remove_url(workspace, vera))
    assert response.status_code == 200
    assert b"Remove vera@example.test?" in response.content
    assert Membership.objects.filter(workspace=workspace, user=vera).exists()


def test_an_owner_removes_a_member(alice, vera, workspace, login):
    response = login(alice).post(_remove_url(workspace, vera))
    assert response["Location"] == reverse("accounts:members", kwargs={"code": workspace.code})
    assert not Membership.objects.filter(workspace=workspace, user=vera).exists()
    event = workspace.audit_events.get(action="member.removed")
    assert (event.target, event.details) == ("vera@example.test", {"role": "viewer", "left": False})
    assert (
        login(vera).get(reverse("accounts:workspace", kwargs={"code": workspace.code})).status_code
        == 404
    )


def test_the_last_owner_cannot_be_removed(alice, bob, workspace, login):
    client = login(alice)
    client.post(_role_url(workspace, bob), {"role": "owner"})
    client.post(_remove_url(workspace, bob))
    response = client.post(_remove_url(workspace, alice), follow=True)
    assert b"always keeps at least one owner" in response.content
    assert Membership.objects.get(workspace=workspace, user=alice).is_owner


def test_an_owner_may_remove_themselves_when_another_owner_remains(alice, bob, workspace, login):
    client = login(alice)
    client.post(_role_url(workspace, bob), {"role": "owner"})
    response = client.post(_remove_url(workspace, alice))
    assert response["Location"] == reverse("home")
    assert not Membership.objects.filter(workspace=workspace, user=alice).exists()


def _removed_after_lookup(monkeypatch):
    """The member is found by the view, then removed (a second click, another owner) before the
    service runs."""
    original = views._membership_in

    def removed_meanwhile(access, member_code):
        membership = original(access, member_code)
        Membership.objects.filter(pk=membership.pk).delete()
        return membership

    monkeypatch.setattr(views, "_membership_in", removed_meanwhile)


def test_removing_someone_removed_meanwhile_says_so(monkeypatch, alice, vera, workspace, login):
    url = _remove_url(workspace, vera)
    _removed_after_lookup(monkeypatch)
    response = login(alice).post(url)
    assert response.status_code == 422  # the list as it now stands, with the reason
    assert b"no longer a member of this workspace" in response.content
    assert not workspace.audit_events.filter(action="member.removed").exists()


@pytest.mark.parametrize("htmx", [False, True])
def test_a_role_change_for_someone_removed_meanwhile_says_so(
    monkeypatch, htmx, alice, vera, workspace, login
):
    url = _role_url(workspace, vera)
    _removed_after_lookup(monkeypatch)
    client = login(alice)
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.post(url, {"role": "editor"}, headers=headers)
    if htmx:  # no row left to redraw: the page reloads and says why
        assert response.status_code == 200 and response["HX-Refresh"] == "true"
        page = client.get(reverse("accounts:members", kwargs={"code": workspace.code}))
    else:  # the list as it now stands, with the reason
        assert response.status_code == 422
        page = response
    assert b"no longer a member of this workspace" in page.content
    assert not workspace.audit_events.filter(action="member.role_changed").exists()


def test_two_owners_removing_each_other_at_once_leave_one_owner(alice, bob, workspace):
    """Both requests passed their checks before either acted: the second must still see that
    it may no longer act (the services re-read the actor and the owners under lock)."""
    Membership.objects.filter(workspace=workspace, user=bob).update(role="owner")
    alices, bobs = (Membership.objects.get(workspace=workspace, user=u) for u in (alice, bob))
    services.member_remove(membership=bobs, actor=alice)
    # Bob is no member now: his request, which passed the view's check, is refused as such.
    with pytest.raises(RoleRequired):
        services.member_remove(membership=alices, actor=bob)
    assert Membership.objects.get(workspace=workspace, user=alice).is_owner


def test_two_owners_demoting_each_other_at_once_leave_one_owner(alice, bob, workspace):
    Membership.objects.filter(workspace=workspace, user=bob).update(role="owner")
    alices, bobs = (Membership.objects.get(workspace=workspace, user=u) for u in (alice, bob))
    services.member_role_change(membership=bobs, role="editor", actor=alice)
    # Bob only edits now: his request, which passed the view's check, is refused.
    with pytest.raises(RoleRequired):
        services.member_role_change(membership=alices, role="editor", actor=bob)
    assert Membership.objects.filter(workspace=workspace, role="owner").count() == 1
