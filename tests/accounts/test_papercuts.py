"""Small things people met (issue 17's papercuts, the accounts side): who is offered a new client
workspace, names over 100 characters refused with a sentence, what staff see in the admin,
two-factor pages in sentence case, one notice after sign-up from an invitation."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import Membership, User, Workspace
from accounts.staff_group import GROUP_NAME, support_group

pytestmark = pytest.mark.django_db

LONG = "A" * 101


# --- a. "New client workspace" is for agencies; everyone else may make "New workspace" ----------


def test_an_agency_owner_is_offered_a_new_client_workspace(workspace, alice, login):
    page = login(alice).get(reverse("home")).content.decode()
    assert "New client workspace" in page and ">New workspace<" not in page


@pytest.mark.parametrize("who", ["vera", "charlie"])
def test_viewers_solo_and_new_people_are_offered_a_plain_new_workspace(who, request, login):
    user = request.getfixturevalue(who)  # a viewer of a client workspace; a new person alone
    client = login(user)
    page = client.get(reverse("home")).content.decode()
    assert "New client workspace" not in page
    assert page.count("New workspace") == 2  # the overview's button and the navigation's
    form = client.get(reverse("accounts:workspace_create")).content.decode()
    assert '<h1 class="title">New workspace</h1>' in form


# --- e. Names over 100 characters -------------------------------------------------------------


def test_a_workspace_name_over_100_characters_is_refused_with_a_sentence(alice, login):
    client = login(alice)
    form = client.get(reverse("accounts:workspace_create")).content.decode()
    assert 'maxlength="100"' not in form  # the browser no longer cuts it without a word
    response = client.post(reverse("accounts:workspace_create"), {"name": LONG})
    assert response.status_code == 422
    assert "at most 100 characters (it has 101)" in response.content.decode()
    assert LONG in response.content.decode()  # what was typed is kept
    assert not Workspace.objects.filter(name__startswith="AAAA").exists()
    assert (
        client.post(reverse("accounts:workspace_create"), {"name": LONG[:100]}).status_code == 302
    )


def test_a_display_name_over_100_characters_is_refused_with_a_sentence(alice, login):
    client = login(alice)
    page = client.get(reverse("accounts:profile")).content.decode()
    assert 'maxlength="100"' not in page
    response = client.post(
        reverse("accounts:profile"),
        {"display_name": LONG, "timezone": "UTC", "language": "en"},
    )
    assert "at most 100 characters (it has 101)" in response.content.decode()
    alice.refresh_from_db()
    assert alice.display_name == "Alice"


def test_sign_up_refuses_a_display_name_over_100_characters(client):
    page = client.get(reverse("account_signup")).content.decode()
    assert 'maxlength="100"' not in page
    response = client.post(
        reverse("account_signup"),
        {
            "email": "long@example.test",
            "display_name": LONG,
            "password1": "a-long-pass-123!",
            "password2": "a-long-pass-123!",
        },
    )
    assert "at most 100 characters (it has 101)" in response.content.decode()
    assert not User.objects.filter(email="long@example.test").exists()


# --- b. Staff in the admin ----------------------------------------------------------------------


@pytest.fixture
def support(staff) -> User:
    call_command("staff_group", staff.email)
    return staff


def test_staff_without_a_group_see_nothing_and_support_staff_see_every_model(
    staff, login, workspace
):
    client = login(staff)
    assert "have permission to view or edit anything" in client.get("/admin/").content.decode()
    staff.groups.add(support_group())
    page = client.get("/admin/").content.decode()
    assert "have permission" not in page
    for model in ("workspace", "user", "post", "alert", "taislyrequest"):
        assert (
            f"/admin/{'accounts' if model in ('workspace', 'user') else 'posting'}/{model}/" in page
        )
    assert (
        client.get(reverse("admin:accounts_workspace_change", args=[workspace.pk])).status_code
        == 200
    )
    # Viewing only, where the group gives no change: no add, no delete of workspaces.
    assert client.get(reverse("admin:accounts_workspace_add")).status_code == 403
    assert (
        client.get(reverse("admin:accounts_workspace_delete", args=[workspace.pk])).status_code
        == 403
    )


def test_support_staff_cannot_give_themselves_rights_nor_set_a_password(support, alice, login):
    client = login(support)
    url = reverse("admin:accounts_user_change", args=[support.pk])
    page = client.get(url).content.decode()
    assert 'name="is_superuser"' not in page and 'name="groups"' not in page
    response = client.post(
        url,
        {
            "email": support.email,
            "display_name": "Staff",
            "timezone": "UTC",
            "language": "en",
            "is_active": "on",
            "is_superuser": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code in (200, 302)
    support.refresh_from_db()
    assert not support.is_superuser
    password_url = reverse("admin:auth_user_password_change", args=[alice.pk])
    assert client.get(password_url).status_code == 403


def test_the_group_command_is_idempotent_and_refuses_a_non_staff_account(support, alice):
    call_command("staff_group", support.email)
    group = support.groups.get()
    assert group.name == GROUP_NAME
    codenames = set(group.permissions.values_list("codename", flat=True))
    assert {"view_post", "change_workspace", "change_user", "delete_invitation"} <= codenames
    assert not codenames & {"add_workspace", "delete_workspace", "delete_user", "change_group"}
    with pytest.raises(Exception, match="No staff account"):
        call_command("staff_group", alice.email)


# --- g. Two-factor pages in sentence case -------------------------------------------------------


def test_two_factor_pages_read_in_sentence_case(alice, login):
    client = login(alice)
    page = client.get(reverse("mfa_index")).content.decode()
    assert "Two-factor sign-in" in page and "Authenticator app" in page
    assert "Recovery codes" in page
    for title_case in ("Two-Factor Authentication", "Authenticator App", "Recovery Codes"):
        assert title_case not in page
    page = client.get(reverse("mfa_activate_totp")).content.decode()
    assert "Set up an authenticator app" in page and "Activate Authenticator App" not in page


def test_two_factor_pages_are_translated(alice, login):
    alice.language = "id"
    alice.save(update_fields=["language"])
    client = login(alice)
    page = client.get(reverse("mfa_index"), HTTP_ACCEPT_LANGUAGE="id").content.decode()
    assert "Two-factor sign-in" not in page and "Authenticator app" not in page


# --- h. One notice after sign-up from an invitation ---------------------------------------------


def test_sign_up_from_an_invitation_says_where_the_link_went_once(
    workspace, alice, client, mailoutbox
):
    from django.test import RequestFactory

    from accounts import services

    _invitation, token = services.invitation_create(
        workspace=workspace,
        email="newbie@example.test",
        role=Membership.Role.VIEWER,
        inviter=alice,
        request=RequestFactory().post("/"),
    )
    response = client.post(
        f"{reverse('account_signup')}?invitation={token}",
        {
            "email": "newbie@example.test",
            "password1": "a-long-pass-123!",
            "password2": "a-long-pass-123!",
        },
        follow=True,
    )
    page = response.content.decode()
    assert page.count("follow the link we emailed") == 1
    assert 'data-testid="verification-sent"' not in page
    assert "Check your email" in page
