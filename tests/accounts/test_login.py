from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.personas import PERSONA_PASSWORD


def test_a_persona_logs_in_with_the_shared_password(client, alice):
    response = client.post(
        reverse("login"), {"username": "alice@example.test", "password": PERSONA_PASSWORD}
    )
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_password_reset_sends_a_working_link(client, alice, mailoutbox):
    response = client.post(reverse("accounts:password_reset"), {"email": "alice@example.test"})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["alice@example.test"]
    link = re.search(r"https?://[^/]+(/password-reset/\S+/)", message.body).group(1)

    form = client.get(link, follow=True)  # Django swaps the token for a session marker
    assert form.status_code == 200
    assert b"Set a new password" in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-brand-new-pass-77", "new_password2": "a-brand-new-pass-77"},
    )
    assert done["Location"] == reverse("accounts:password_reset_complete")
    alice.refresh_from_db()
    assert alice.check_password("a-brand-new-pass-77")


def test_password_reset_says_the_same_for_an_unknown_address(client, db, mailoutbox):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.test"})
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert mailoutbox == []


def test_a_used_reset_link_gets_a_sentence(client, alice):
    response = client.get(
        reverse("accounts:password_reset_confirm", kwargs={"uidb64": "MQ", "token": "bad-token"})
    )
    assert response.status_code == 200
    assert b"This link cannot be used" in response.content


def test_logging_in_is_locked_after_five_failures_with_a_friendly_page(client, alice, settings):
    settings.AXES_ENABLED = True
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(
            reverse("login"), {"username": "alice@example.test", "password": "wrong"}
        )
        assert response.status_code in (200, 429)
    # Locked now, even with the right password, and however the address is written.
    response = client.post(
        reverse("login"), {"username": " Alice@Example.test", "password": PERSONA_PASSWORD}
    )
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many attempts" in page
    assert "15 minutes" in page
    assert 'class="navbar' in page  # our layout, not a bare 403 body
    assert not client.session.get("_auth_user_id")


def test_the_lockout_is_per_account(client, alice, bob, settings):
    settings.AXES_ENABLED = True
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "alice@example.test", "password": "wrong"})
    response = client.post(
        reverse("login"), {"username": "bob@example.test", "password": PERSONA_PASSWORD}
    )
    assert response.status_code == 302


def test_a_success_before_the_limit_resets_the_count(client, alice, settings):
    settings.AXES_ENABLED = True
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(reverse("login"), {"username": "alice@example.test", "password": "wrong"})
    ok = client.post(
        reverse("login"), {"username": "alice@example.test", "password": PERSONA_PASSWORD}
    )
    assert ok.status_code == 302
    client.post(reverse("logout"))
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(reverse("login"), {"username": "alice@example.test", "password": "wrong"})
    ok = client.post(
        reverse("login"), {"username": "alice@example.test", "password": PERSONA_PASSWORD}
    )
    assert ok.status_code == 302


@pytest.mark.django_db
def test_login_ignores_the_case_of_the_email(client, django_user_model):
    django_user_model.objects.create_user(email="mixed@example.test", password="pass-for-tests-123")
    response = client.post(
        "/login/", {"username": "  Mixed@Example.TEST ", "password": "pass-for-tests-123"}
    )
    assert response.status_code == 302
    assert client.get("/").context["user"].email == "mixed@example.test"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        ("en", "Please enter a correct email and password."),
        ("id", "Masukkan email dan kata sandi yang benar."),
    ],
)
def test_a_failed_login_says_so_in_the_visitors_language(client, alice, language, sentence):
    response = client.post(
        "/login/",
        {"username": alice.email, "password": "not-the-password"},
        HTTP_ACCEPT_LANGUAGE=language,
    )
    assert response.status_code == 200
    assert sentence in response.content.decode()
    assert "both fields may be case-sensitive" not in response.content.decode()


@pytest.mark.parametrize("login_url", ["/login/", "/admin/login/"])
def test_an_overlong_login_name_is_a_failed_login_not_a_500(client, alice, settings, login_url):
    # Over 255 characters PostgreSQL refused axes' record of the failure; at 100,000 SQLite
    # refused the case-insensitive lookup ("LIKE pattern too complex").
    settings.AXES_ENABLED = True
    for name in ("x" * 300 + "@example.test", "x" * 100_000):
        response = client.post(login_url, {"username": name, "password": "wrong"})
        assert response.status_code == 200
        assert not response.wsgi_request.user.is_authenticated
        assert b"Error" in response.content or b"correct email and password" in response.content


def test_the_admin_keeps_one_account_per_address_whatever_its_case(alice, login):
    """Logging in looks the email up regardless of case, so "Alice@…" beside "alice@…" would make
    every login of either a server error."""
    root = type(alice).objects.create_superuser(email="root@example.test", password="x")
    admin = login(root)
    add = reverse("admin:accounts_user_add")
    password = {"password1": "a-long-enough-pass-42", "password2": "a-long-enough-pass-42"}
    response = admin.post(
        add, {"email": "Alice@Example.TEST", **password, "usable_password": "true"}
    )
    assert response.status_code == 200  # the form again, with an error
    assert type(alice).objects.filter(email__iexact=alice.email).count() == 1

    response = admin.post(
        add, {"email": "Newbie@Example.TEST", **password, "usable_password": "true"}
    )
    assert response.status_code == 302
    assert type(alice).objects.filter(email="newbie@example.test").exists()
