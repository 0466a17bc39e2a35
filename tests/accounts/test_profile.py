from __future__ import annotations

import datetime as dt
import re

import time_machine
from allauth.account.models import EmailAddress
from django.urls import reverse

from accounts.models import AuditEvent
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
