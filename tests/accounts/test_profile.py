from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from accounts import services
from accounts.models import AuditEvent, Membership, TaislyConnection, User, Workspace
from tests.personas import PERSONA_PASSWORD


def test_the_profile_page_shows_the_current_settings(alice, login):
    response = login(alice).get(reverse("accounts:profile"))
    assert response.status_code == 200
    assert b"alice@example.test" in response.content
    assert b'value="Alice"' in response.content


def test_saving_the_profile_changes_name_time_zone_and_language(alice, login):
    client = login(alice)
    response = client.post(
        reverse("accounts:profile"),
        {"display_name": "Alice Wong", "timezone": "Asia/Jakarta", "language": "id"},
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert (alice.display_name, alice.timezone, alice.language) == (
        "Alice Wong",
        "Asia/Jakarta",
        "id",
    )
    assert response.cookies["django_language"].value == "id"


def test_the_saved_message_is_in_the_language_just_chosen(alice, login):
    response = login(alice).post(
        reverse("accounts:profile"),
        {"display_name": "Alice", "timezone": "UTC", "language": "id"},
        follow=True,
    )
    text = response.content.decode()
    assert "Profil Anda telah disimpan." in text
    assert "Your profile was saved." not in text


def test_the_profile_refuses_an_unknown_time_zone(alice, login):
    response = login(alice).post(
        reverse("accounts:profile"),
        {"display_name": "Alice", "timezone": "Mars/Olympus", "language": "en"},
    )
    assert response.status_code == 422
    alice.refresh_from_db()
    assert alice.timezone == "UTC"


@time_machine.travel(dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC), tick=False)
def test_times_are_shown_in_the_users_time_zone_with_the_offset(alice, workspace, login):
    AuditEvent.objects.filter(workspace=workspace).delete()
    event = AuditEvent.objects.create(
        workspace=workspace, actor=alice, actor_email=alice.email, action="workspace.renamed"
    )
    assert event.created_at == dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
    client = login(alice)
    url = reverse("accounts:audit", kwargs={"code": workspace.code})

    page = client.get(url).content.decode()
    assert "1 Mar 2025, 12:00" in page and "UTC+0000" in page

    alice.timezone = "Asia/Jakarta"
    alice.save(update_fields=["timezone"])
    page = client.get(url).content.decode()
    assert "1 Mar 2025, 19:00" in page and "UTC+0700" in page

    alice.timezone = "America/New_York"
    alice.save(update_fields=["timezone"])
    page = client.get(url).content.decode()
    assert "1 Mar 2025, 07:00" in page and "UTC-0500" in page


def test_the_users_language_is_used_on_every_page(alice, login):
    alice.language = "id"
    alice.save(update_fields=["language"])
    response = login(alice).get(reverse("home"))
    assert response["Content-Language"] == "id"
    assert b'<html lang="id">' in response.content


def test_the_footer_language_switch_is_remembered_on_the_profile(alice, login):
    response = login(alice).post(reverse("accounts:language"), {"language": "id", "next": "/"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.language == "id"


def test_anonymous_visitors_choose_a_language_with_a_cookie(client, db):
    client.post(reverse("accounts:language"), {"language": "id", "next": "/login/"})
    response = client.get(reverse("account_login"))
    assert response["Content-Language"] == "id"


def test_changing_the_password_keeps_the_user_logged_in(alice, login):
    client = login(alice)
    response = client.post(
        reverse("account_change_password"),
        {
            "oldpassword": PERSONA_PASSWORD,
            "password1": "a-brand-new-pass-77",
            "password2": "a-brand-new-pass-77",
        },
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("a-brand-new-pass-77")
    assert client.get(reverse("accounts:profile")).status_code == 200


def test_changing_the_password_needs_the_old_one(alice, login):
    response = login(alice).post(
        reverse("account_change_password"),
        {
            "oldpassword": "wrong",
            "password1": "a-brand-new-pass-77",
            "password2": "a-brand-new-pass-77",
        },
    )
    assert response.status_code == 422
    alice.refresh_from_db()
    assert alice.check_password(PERSONA_PASSWORD)


def test_the_profile_shows_the_address_state_and_two_factor_sign_in(alice, login):
    page = login(alice).get(reverse("accounts:profile")).content.decode()
    assert "Confirmed" in page
    assert reverse("account_email") in page
    assert reverse("account_change_password") in page
    assert reverse("mfa_activate_totp") in page
    assert "Turn on two-factor sign-in" in page


def test_changing_the_email_address_waits_for_the_new_one_to_be_verified(alice, login, mailoutbox):
    client = login(alice)
    response = client.post(
        reverse("account_email"), {"action_add": "", "email": "Alice.New@Example.test"}
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.email == "alice@example.test"  # unchanged until the new one is confirmed
    link = re.search(r"https?://[^/]+(/confirm-email/\S+/)", mailoutbox[-1].body).group(1)
    assert mailoutbox[-1].to == ["alice.new@example.test"]
    client.post(link)
    alice.refresh_from_db()
    assert alice.email == "alice.new@example.test"
    assert EmailAddress.objects.get(user=alice).verified


# --- Deleting one's own account (issue 6, section 3) -----------------------------------------


def _delete_url() -> str:
    return reverse("accounts:account_delete")


def test_the_profile_offers_to_delete_the_account(alice, login):
    assert _delete_url() in login(alice).get(reverse("accounts:profile")).content.decode()


def test_deleting_my_account_asks_first_and_names_what_goes_with_it(charlie, login):
    page = login(charlie).get(_delete_url())
    assert page.status_code == 200
    body = page.content.decode()
    assert "Charlie" in body  # his personal workspace, where he is alone, goes with him
    assert 'type="password"' in body
    assert User.objects.filter(pk=charlie.pk).exists()  # asking deletes nothing


def test_a_wrong_password_deletes_nothing(charlie, login):
    response = login(charlie).post(_delete_url(), {"password": "not-it"})
    assert response.status_code == 422
    assert "That is not your password." in response.content.decode()
    assert User.objects.filter(pk=charlie.pk).exists()


def test_guessing_the_password_to_delete_the_account_is_rate_limited(charlie, login, settings):
    """The password asked for again is limited like allauth's own re-checks: a borrowed session
    cannot try password after password here."""
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "reauthenticate": "3/m/user"}
    client = login(charlie)
    url = reverse("accounts:account_delete")
    answers = [client.post(url, {"password": f"guess-{i}"}).status_code for i in range(4)]
    assert answers == [422, 422, 422, 429]
    assert client.post(url, {"password": PERSONA_PASSWORD}).status_code == 429
    assert User.objects.filter(pk=charlie.pk).exists()


def test_deleting_my_account_takes_my_lonely_workspaces_and_their_keys(
    charlie, alice, workspace, login
):
    """Workspaces where charlie is the only member go with him, with their stored key; the one
    he shares stays, and its log says he left."""
    personal = Workspace.objects.get(memberships__user=charlie)
    TaislyConnection.objects.create(workspace=personal, api_key="taisly_" + "ab" * 32)
    Membership.objects.create(workspace=workspace, user=charlie, role="editor")
    client = login(charlie)
    response = client.post(_delete_url(), {"password": PERSONA_PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("account_login")
    assert "Your account was deleted." in response.content.decode()
    assert not User.objects.filter(pk=charlie.pk).exists()
    assert not Workspace.objects.filter(pk=personal.pk).exists()
    assert not TaislyConnection.objects.filter(workspace_id=personal.pk).exists()
    assert Workspace.objects.filter(pk=workspace.pk).exists()
    left = AuditEvent.objects.get(workspace=workspace, action=AuditEvent.Action.MEMBER_REMOVED)
    assert left.details == {"role": "editor", "left": True, "account_deleted": True}
    assert left.actor_email == "charlie@example.test"
    assert "_auth_user_id" not in client.session


def test_the_last_owner_of_a_shared_workspace_must_hand_it_over_first(alice, bob, workspace, login):
    client = login(alice)
    page = client.get(_delete_url()).content.decode()
    assert "Hand each one over first" in page and "Acme" in page
    alone, blocked = services.user_delete_plan(user=alice)
    assert [w.name for w in alone] == ["Alice"] and blocked == [workspace]
    response = client.post(_delete_url(), {"password": PERSONA_PASSWORD})
    assert response.status_code == 422
    assert "You are the last owner of “Acme”, which has other members." in (
        response.content.decode()
    )
    assert User.objects.filter(pk=alice.pk).exists()
    assert Workspace.objects.filter(pk=workspace.pk).exists()
    # Once bob is an owner too, alice may go; Acme stays with bob.
    Membership.objects.filter(workspace=workspace, user=bob).update(role="owner")
    assert client.post(_delete_url(), {"password": PERSONA_PASSWORD}).status_code == 302
    assert not User.objects.filter(pk=alice.pk).exists()
    assert Membership.objects.get(workspace=workspace).user == bob


def test_user_delete_is_refused_to_anyone_else(alice, charlie):
    with pytest.raises(PermissionDenied):
        services.user_delete(user=charlie, actor=alice)
    assert User.objects.filter(pk=charlie.pk).exists()


def test_the_delete_account_page_runs_a_fixed_number_of_queries(
    charlie, login, django_assert_num_queries
):
    for i in range(3):  # workspaces he is alone in, and shared ones he is the last owner of
        alone = Workspace.objects.create(name=f"Alone {i}")
        Membership.objects.create(workspace=alone, user=charlie, role="owner")
        shared = Workspace.objects.create(name=f"Shared {i}")
        Membership.objects.create(workspace=shared, user=charlie, role="owner")
        other = User.objects.create_user(email=f"o{i}@example.test", password="x-pass-12345")
        Membership.objects.create(workspace=shared, user=other, role="viewer")
    client = login(charlie)
    # 1 session, 2 user, 3 workspaces where he is the last owner among others, 4 workspaces
    # where he is alone, 5 the navigation's memberships.
    with django_assert_num_queries(5):
        page = client.get(reverse("accounts:account_delete"))
    assert page.context["blocked"] == list(Workspace.objects.filter(name__startswith="Shared"))
    assert [w.name for w in page.context["alone"]] == ["Alone 0", "Alone 1", "Alone 2", "Charlie"]
