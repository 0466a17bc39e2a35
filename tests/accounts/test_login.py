from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.personas import PERSONA_PASSWORD


def _login(client, email, password, **extra):
    return client.post(reverse("account_login"), {"login": email, "password": password}, **extra)


def test_a_persona_logs_in_with_the_shared_password(client, alice):
    response = _login(client, "alice@example.test", PERSONA_PASSWORD)
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_the_login_page_is_ours(client, db):
    page = client.get("/login/").content.decode()
    assert 'class="navbar' in page
    assert 'name="login"' in page and 'type="email"' in page
    assert "Forgotten your password?" in page
    assert 'name="remember"' not in page  # sessions last as before: no "remember me" box


def test_password_reset_sends_a_working_link(client, alice, mailoutbox):
    response = client.post(reverse("account_reset_password"), {"email": "Alice@Example.test"})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_reset_password_done")
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["alice@example.test"]
    link = re.search(r"https?://[^/]+(/password/reset/key/\S+/)", message.body).group(1)

    form = client.get(link, follow=True)  # allauth swaps the key for a session marker
    assert form.status_code == 200
    done = client.post(
        form.redirect_chain[-1][0],
        {"password1": "a-brand-new-pass-77", "password2": "a-brand-new-pass-77"},
    )
    assert done["Location"] == reverse("account_reset_password_from_key_done")
    alice.refresh_from_db()
    assert alice.check_password("a-brand-new-pass-77")


def test_the_page_after_a_password_reset_leads_to_log_in(client, db):
    """A reset logs out every browser: the page that says it worked offers the way back in,
    in the visitor's language."""
    page = client.get(reverse("account_reset_password_from_key_done"), HTTP_ACCEPT_LANGUAGE="id")
    assert page.status_code == 200
    text = page.content.decode()
    assert f'href="{reverse("account_login")}" data-testid="reset-done-login">Masuk<' in text


def test_password_reset_says_the_same_for_an_unknown_address(client, db, mailoutbox):
    response = client.post(reverse("account_reset_password"), {"email": "nobody@example.test"})
    assert response["Location"] == reverse("account_reset_password_done")
    # allauth tells the address (not the visitor) that it has no account here.
    assert all("/password/reset/key/" not in m.body for m in mailoutbox)


def test_a_pending_email_change_cannot_be_used_to_reset_the_password(
    client, alice, login, mailoutbox
):
    """alice asked to change to an address she does not own (a typo): its owner must not be
    able to reset alice's password through it. Her own address still can."""
    login(alice).post(reverse("account_email"), {"action_add": "", "email": "typo@example.test"})
    mailoutbox.clear()
    response = client.post(reverse("account_reset_password"), {"email": "typo@example.test"})
    assert response.status_code == 302  # the same answer as for any address (no enumeration)
    assert not any("/password/reset/key/" in message.body for message in mailoutbox)
    mailoutbox.clear()
    client.post(reverse("account_reset_password"), {"email": alice.email})
    assert [m.to for m in mailoutbox] == [[alice.email]]
    assert "/password/reset/key/" in mailoutbox[0].body


def test_a_confirmation_link_for_an_email_change_opened_logged_out_says_to_ignore_it(
    client, alice, login, mailoutbox
):
    login(alice).post(reverse("account_email"), {"action_add": "", "email": "typo@example.test"})
    link = re.search(r"https?://[^/\s]+(/confirm-email/[^/\s]+/)", mailoutbox[-1].body).group(1)
    page = client.get(link, follow=True).content.decode()
    assert "If you did not ask for this, ignore the email" in page
    assert "reset the password" not in page


def test_a_bad_reset_link_gets_a_sentence(client, alice):
    response = client.get("/password/reset/key/1-bad-token/", follow=True)
    assert response.status_code == 200
    assert b"invalid" in response.content.lower()


def test_logging_in_is_locked_after_five_failures(client, alice, settings):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        response = _login(client, "alice@example.test", "wrong")
        assert response.status_code == 422
    # Locked now, even with the right password, and however the address is written.
    response = _login(client, " Alice@Example.test", PERSONA_PASSWORD)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many attempts" in page
    assert "15 minutes" in page
    assert 'class="navbar' in page  # our layout, not a bare page
    assert not client.session.get("_auth_user_id")


def test_the_lockout_is_per_account(client, alice, bob, settings):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _login(client, "alice@example.test", "wrong")
    assert _login(client, "bob@example.test", PERSONA_PASSWORD).status_code == 302


def test_a_success_before_the_limit_does_not_lock(client, alice, settings):
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        _login(client, "alice@example.test", "wrong")
    ok = _login(client, "alice@example.test", PERSONA_PASSWORD)
    assert ok.status_code == 302


@pytest.mark.django_db
def test_login_ignores_the_case_of_the_email(client, django_user_model):
    django_user_model.objects.create_user(email="mixed@example.test", password="pass-for-tests-123")
    response = _login(client, "  Mixed@Example.TEST ", "pass-for-tests-123")
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
    response = _login(client, alice.email, "not-the-password", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 422
    assert sentence in response.content.decode()


def test_an_overlong_login_name_is_a_failed_login_not_a_500(client, alice):
    # At 100,000 characters SQLite refused a case-insensitive lookup ("LIKE pattern too
    # complex"); past 254 no account can have the address, so nothing is looked up.
    for name in ("x" * 300 + "@example.test", "x" * 100_000):
        response = _login(client, name, "wrong")
        assert response.status_code == 422
        assert not response.wsgi_request.user.is_authenticated


def test_the_admin_logs_in_through_our_login(client, db):
    response = client.get("/admin/login/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


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
