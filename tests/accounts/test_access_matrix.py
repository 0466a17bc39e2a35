"""Every people-and-workspace view, for every persona: it works for those who may, outsiders get
404, members without the right role 403, the wrong method 405, and an unknown code 404."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership

PERSONAS = ("alice", "bob", "vera", "staff", "charlie")


@dataclass(frozen=True)
class Case:
    name: str  # URL name
    method: str
    expect: dict[str, int]  # persona → status
    data: dict = field(default_factory=dict)
    target: str | None = None  # "member" (vera's membership) or "invitation"
    wrong_method: str = "put"


def _all(status_members: int, **overrides: int) -> dict[str, int]:
    expect = {"alice": status_members, "bob": status_members, "vera": status_members}
    expect.update({"staff": status_members, "charlie": 404})
    expect.update(overrides)
    return expect


def _owner_only(ok: int) -> dict[str, int]:
    return {"alice": ok, "bob": 403, "vera": 403, "staff": 403, "charlie": 404}


CASES = [
    Case("accounts:workspace", "get", _all(200), wrong_method="post"),
    Case("accounts:members", "get", _all(200), wrong_method="post"),
    Case("accounts:audit", "get", _all(200, bob=403, vera=403), wrong_method="post"),
    Case("accounts:workspace_settings", "get", _owner_only(200), wrong_method="post"),
    Case(
        "accounts:workspace_rename",
        "post",
        _owner_only(302),
        data={"name": "Acme Ltd"},
        wrong_method="get",
    ),
    Case("accounts:workspace_delete", "get", _owner_only(200)),
    Case("accounts:workspace_delete", "post", _owner_only(302), data={"confirm_name": "Acme"}),
    Case("accounts:workspace_leave", "get", _all(200, staff=404)),
    # alice is the only owner: she may not leave; the others may.
    Case("accounts:workspace_leave", "post", _all(302, alice=422, staff=404)),
    Case("accounts:member_invite", "get", _owner_only(200)),
    Case(
        "accounts:member_invite",
        "post",
        _owner_only(302),
        data={"email": "newcomer@example.test", "role": "viewer"},
    ),
    Case(
        "accounts:member_role",
        "post",
        _owner_only(302),
        data={"role": "editor"},
        target="member",
        wrong_method="get",
    ),
    Case("accounts:member_remove", "get", _owner_only(200), target="member"),
    Case("accounts:member_remove", "post", _owner_only(302), target="member"),
    Case(
        "accounts:invitation_revoke",
        "post",
        _owner_only(302),
        target="invitation",
        wrong_method="get",
    ),
]


def _id(case: Case) -> str:
    return f"{case.name.split(':')[1]}-{case.method}"


@pytest.fixture
def everyone(alice, bob, vera, charlie, staff):
    return {"alice": alice, "bob": bob, "vera": vera, "charlie": charlie, "staff": staff}


@pytest.fixture
def invitation(workspace, alice):
    return Invitation.objects.create(
        workspace=workspace,
        email="pending@example.test",
        role=Membership.Role.EDITOR,
        token_hash="0" * 64,
        invited_by=alice,
        expires_at=timezone.now() + timedelta(days=7),
    )


def _kwargs(case: Case, workspace, vera, invitation, code=None) -> dict:
    kwargs = {"code": code or workspace.code}
    if case.target == "member":
        kwargs["member_code"] = Membership.objects.get(workspace=workspace, user=vera).code
    elif case.target == "invitation":
        kwargs["invitation_code"] = invitation.code
    return kwargs


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_each_persona_gets_what_their_role_allows(
    case, persona, everyone, workspace, vera, invitation, login, mailoutbox
):
    client = login(everyone[persona])
    url = reverse(case.name, kwargs=_kwargs(case, workspace, vera, invitation))
    response = getattr(client, case.method)(url, case.data)
    assert response.status_code == case.expect[persona], response.content[:400]
    if response.status_code == 403:
        assert b"Your role does not allow this" in response.content
    if response.status_code == 404:
        assert b"Nothing here" in response.content
    if persona == "charlie":
        assert b"Acme" not in response.content  # not a word about the workspace


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_it_rejects_the_wrong_method(case, alice, workspace, vera, invitation, login):
    url = reverse(case.name, kwargs=_kwargs(case, workspace, vera, invitation))
    response = getattr(login(alice), case.wrong_method)(url)
    assert response.status_code == 405


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_an_unknown_workspace_code_is_a_404(case, alice, workspace, vera, invitation, login):
    kwargs = _kwargs(case, workspace, vera, invitation, code=uuid.uuid4())
    response = getattr(login(alice), case.method)(reverse(case.name, kwargs=kwargs), case.data)
    assert response.status_code == 404


@pytest.mark.parametrize("case", [c for c in CASES if c.target], ids=lambda c: _id(c) + "-object")
def test_an_unknown_object_code_is_a_404(case, alice, workspace, vera, invitation, login):
    kwargs = _kwargs(case, workspace, vera, invitation)
    key = "member_code" if case.target == "member" else "invitation_code"
    kwargs[key] = uuid.uuid4()
    response = getattr(login(alice), case.method)(reverse(case.name, kwargs=kwargs), case.data)
    assert response.status_code == 404


@pytest.mark.parametrize("case", [c for c in CASES if c.target], ids=_id)
def test_an_object_of_another_workspace_is_a_404(case, alice, workspace, vera, invitation, login):
    """alice owns two workspaces; a member code from one does not work in the other's URL."""
    other = Membership.objects.get(user=alice, workspace__kind="personal").workspace
    response = getattr(login(alice), case.method)(
        reverse(case.name, kwargs=_kwargs(case, workspace, vera, invitation, code=other.code)),
        case.data,
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "url_name",
    ["accounts:profile", "accounts:password_change", "accounts:workspace_create", "home"],
)
def test_user_pages_ask_anonymous_visitors_to_log_in(client, url_name):
    response = client.get(reverse(url_name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_workspace_pages_ask_anonymous_visitors_to_log_in(client, workspace):
    response = client.get(reverse("accounts:members", kwargs={"code": workspace.code}))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
