"""Every email field accepts at most 254 characters, as its column holds (issue 6, section 3).

Django's EmailValidator lets up to 320 characters through; PostgreSQL refuses to insert more than
the column's 254 (a 500), SQLite stores it silently. So the forms must refuse it, with a
sentence, on either database.
"""

from __future__ import annotations

import pytest
from django.core.validators import validate_email
from django.urls import reverse

from accounts.emails import EmailAddressField
from accounts.models import EMAIL_MAX_LENGTH, Invitation, User

pytestmark = pytest.mark.django_db


def address(length: int) -> str:
    """A well-formed address of exactly ``length`` characters (labels at most 63)."""
    local = "a" * 64
    labels, remaining = [], length - len(local) - 1 - len(".test")
    while remaining > 0:
        size = min(63, remaining)
        if remaining - size == 1:  # a lone dot left over: shorten this label
            size -= 2
        labels.append("b" * size)
        remaining -= size + 1
    value = f"{local}@{'.'.join(labels)}.test"
    assert len(value) == length
    return value


LONG = address(300)


def test_the_long_address_is_one_djangos_validator_accepts():
    validate_email(LONG)  # so only a length check stops it
    assert len(LONG) > EMAIL_MAX_LENGTH


def test_the_shared_field_takes_254_and_refuses_255():
    field = EmailAddressField()
    assert field.clean(address(254)) == address(254)
    with pytest.raises(Exception, match="at most 254 characters; this one has 255"):
        field.clean(address(255))
    assert field.widget.attrs["maxlength"] == "254"


def test_inviting_a_300_character_address_is_a_form_error(alice, workspace, login, mailoutbox):
    response = login(alice).post(
        reverse("accounts:member_invite", kwargs={"code": workspace.code}),
        {"email": LONG, "role": "viewer"},
    )
    assert response.status_code == 422
    assert "An email address has at most 254 characters; this one has 300." in (
        response.content.decode()
    )
    assert not Invitation.objects.exists() and mailoutbox == []


def test_logging_in_with_a_300_character_address_is_a_form_error(client, db):
    response = client.post(reverse("account_login"), {"login": LONG, "password": "whatever-123"})
    assert response.status_code in (200, 422)
    assert response.context["form"].errors
    assert "_auth_user_id" not in client.session


def test_a_password_reset_for_a_300_character_address_is_a_form_error(client, mailoutbox):
    response = client.post(reverse("account_reset_password"), {"email": LONG})
    assert response.status_code in (200, 422)
    assert "email" in response.context["form"].errors
    assert mailoutbox == []


def test_the_admin_refuses_a_300_character_address(client):
    admin = User.objects.create_superuser(email="root@example.test", password="x-pass-12345")
    client.force_login(admin)
    response = client.post(
        reverse("admin:accounts_user_add"),
        {"email": LONG, "password1": "long-pass-12345", "password2": "long-pass-12345"},
    )
    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors
    assert not User.objects.filter(email=LONG).exists()
