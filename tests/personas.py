"""The people every workspace test is about (healthchecks' ``BaseTestCase`` as fixtures).

- ``workspace``: a client workspace "Acme"
- ``alice`` owns it, ``bob`` edits in it, ``vera`` only views it
- ``charlie`` is an outsider (a member of nothing but his own personal workspace)
- ``staff`` is staff and a member of nothing but their personal workspace

Every persona's password is ``PERSONA_PASSWORD`` and every persona's address is verified;
``login(user)`` returns a logged-in test Client whose session has just re-authenticated (so the
actions behind allauth's re-authentication go through; ``login(user, fresh=False)`` for one
that has not, and ``make_fresh(client, user)`` to freshen one). ``verified_user(email)`` makes
another verified account, ``make_user(email)`` an unverified one.
The root tests/conftest.py makes them available to every test.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from allauth.account.models import EmailAddress
from django.test import Client, RequestFactory

from accounts.models import Membership, User, Workspace

__all__ = [
    "PERSONA_PASSWORD",
    "alice",
    "bob",
    "charlie",
    "login",
    "make_fresh",
    "make_user",
    "staff",
    "vera",
    "verified_user",
    "verify",
    "workspace",
]

PERSONA_PASSWORD = "pass-for-tests-123"


def make_user(email: str, display_name: str = "", **extra) -> User:
    """An account whose address is not verified (as a fresh sign-up's)."""
    return User.objects.create_user(
        email=email, password=PERSONA_PASSWORD, display_name=display_name, **extra
    )


def verify(user: User) -> User:
    """Mark ``user``'s address verified, as following the emailed link does."""
    EmailAddress.objects.update_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )
    return user


def verified_user(email: str, display_name: str = "", **extra) -> User:
    return verify(make_user(email, display_name, **extra))


def _user(email: str, display_name: str, **extra) -> User:
    return verified_user(email, display_name, **extra)


@pytest.fixture
def workspace(db) -> Workspace:
    return Workspace.objects.create(name="Acme", kind=Workspace.Kind.CLIENT)


def _member(workspace: Workspace, user: User, role: str) -> User:
    Membership.objects.create(workspace=workspace, user=user, role=role)
    return user


@pytest.fixture
def alice(workspace) -> User:
    """Owner of ``workspace``."""
    return _member(workspace, _user("alice@example.test", "Alice"), Membership.Role.OWNER)


@pytest.fixture
def bob(workspace) -> User:
    """Editor in ``workspace``."""
    return _member(workspace, _user("bob@example.test", "Bob"), Membership.Role.EDITOR)


@pytest.fixture
def vera(workspace) -> User:
    """Viewer in ``workspace``: reads everything, writes nothing."""
    return _member(workspace, _user("vera@example.test", "Vera"), Membership.Role.VIEWER)


@pytest.fixture
def charlie(db) -> User:
    """An outsider: not a member of ``workspace``."""
    return _user("charlie@example.test", "Charlie")


@pytest.fixture
def staff(db) -> User:
    """Staff: reads everything for oversight, is a member of no client workspace."""
    return _user("staff@example.test", "Staff", is_staff=True)


def make_fresh(client: Client, user: User) -> Client:
    """Record in ``client``'s session that ``user`` just gave their password again, as allauth's
    re-authentication page does (tests/accounts/test_reauthentication.py goes through the page
    itself)."""
    from allauth.account.internal.flows.login import record_authentication

    request = RequestFactory().get("/")
    request.session = client.session
    request.user = user
    record_authentication(request, user, method="password", reauthenticated=True)
    request.session.save()
    return client


@pytest.fixture
def login(db) -> Callable[..., Client]:
    """``login(user)`` → a Django test Client logged in as ``user``, freshly re-authenticated;
    ``login(user, fresh=False)`` → one whose password was last given long ago."""

    def _login(user: User, *, fresh: bool = True) -> Client:
        client = Client()
        client.force_login(user)
        return make_fresh(client, user) if fresh else client

    return _login
