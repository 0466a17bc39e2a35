"""Support staff (accounts/staff_group.py) change a person's profile in the admin, but never in a
way that hands them someone else's account: an email address changed to one they read is a
password reset away from that account (a superuser's included), and a superuser is theirs to
leave alone (not deactivated by the people they oversee)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def support(staff) -> User:
    call_command("staff_group", staff.email)
    return staff


def _profile(user: User, **changes) -> dict:
    data = {
        "email": user.email,
        "display_name": user.display_name or "Someone",
        "timezone": "UTC",
        "language": "en",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_support_staff_cannot_change_a_persons_email_address(support, alice, login):
    client = login(support)
    url = reverse("admin:accounts_user_change", args=[alice.pk])
    assert 'name="email"' not in client.get(url).content.decode()
    before = alice.email
    response = client.post(url, _profile(alice, email="support-owned@example.test"))
    assert response.status_code in (200, 302)
    alice.refresh_from_db()
    assert alice.email == before


def test_support_staff_cannot_change_or_deactivate_a_superuser(support, login):
    root = User.objects.create_superuser(email="root@example.test", password="x" * 20)
    client = login(support)
    url = reverse("admin:accounts_user_change", args=[root.pk])
    response = client.post(url, _profile(root, email="support-owned@example.test", is_active=None))
    assert response.status_code in (200, 302, 403)
    root.refresh_from_db()
    assert root.email == "root@example.test"
    assert root.is_active


def test_a_superuser_still_changes_an_email_address(alice, login):
    root = User.objects.create_superuser(email="root@example.test", password="x" * 20)
    client = login(root)
    url = reverse("admin:accounts_user_change", args=[alice.pk])
    response = client.post(url, _profile(alice, email="alice-new@example.test"))
    assert response.status_code == 302, response.content.decode()[:2000]
    alice.refresh_from_db()
    assert alice.email == "alice-new@example.test"
