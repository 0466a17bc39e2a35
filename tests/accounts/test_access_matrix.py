"""Every people-and-workspace view, for every persona: it works for those who may, outsiders get
404, members without the right role 403, the wrong method 405, and an unknown code 404."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts.access import (
    get_workspace_for_owner,
    get_workspace_for_user,
    get_workspace_for_user_rw,
)
from accounts.models import AuditEvent, Invitation, Membership, Workspace

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


def _state(workspace) -> tuple:
    """What any write here would change: the workspace, its people, invitations and log."""
    return (
        list(Workspace.objects.filter(pk=workspace.pk).values_list("name", flat=True)),
        sorted(Membership.objects.filter(workspace=workspace).values_list("user_id", "role")),
        sorted(Invitation.objects.filter(workspace=workspace).values_list("email", "revoked_at")),
        AuditEvent.objects.count(),
    )


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
    before = _state(workspace)
    response = getattr(client, case.method)(url, case.data)
    assert response.status_code == case.expect[persona], response.content[:400]
    if response.status_code in (403, 404):
        assert _state(workspace) == before, "a refused request changed something"
        assert mailoutbox == []
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
    ["accounts:profile", "account_change_password", "accounts:workspace_create", "home"],
)
def test_user_pages_ask_anonymous_visitors_to_log_in(client, url_name):
    response = client.get(reverse(url_name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_workspace_pages_ask_anonymous_visitors_to_log_in(client, workspace):
    response = client.get(reverse("accounts:members", kwargs={"code": workspace.code}))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def _request_as(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


HELPERS = (get_workspace_for_user, get_workspace_for_user_rw, get_workspace_for_owner)


@pytest.mark.parametrize("code", ["not-a-uuid", "", "x" * 5000, "\x00", 12, None])
def test_the_access_helpers_answer_a_code_that_is_not_a_uuid_with_404(code, alice, staff):
    # URL converters hand over UUIDs, but a view taking a code from a form or a query string
    # must get a 404 too, not the ORM's ValidationError (a 500).
    for user in (alice, staff):
        for helper in HELPERS:
            with pytest.raises(Http404):
                helper(_request_as(user), code)


def test_a_member_is_looked_up_with_the_workspace_in_one_query(
    alice, workspace, django_assert_num_queries
):
    with django_assert_num_queries(1):
        access = get_workspace_for_owner(_request_as(alice), str(workspace.code))
        assert access.workspace.name == "Acme" and access.is_owner


def test_staff_looking_in_get_the_workspace_without_a_membership(staff, workspace):
    access = get_workspace_for_user(_request_as(staff), workspace.code)
    assert access.workspace == workspace and access.is_staff_view and not access.can_write
    with pytest.raises(PermissionDenied):
        get_workspace_for_user_rw(_request_as(staff), workspace.code)


@pytest.mark.parametrize(
    ("url_name", "kwargs", "methods"),
    [
        ("home", {}, ("post", "put", "delete")),
        ("accounts:profile", {}, ("put", "delete", "patch")),
        ("accounts:language", {}, ("get", "put")),
        ("accounts:workspace_create", {}, ("put", "delete")),
        ("accounts:invitation", {"token": "some-token"}, ("put", "delete")),
    ],
)
# (Sign-up and password change are django-allauth's views now, with its own method handling.)
def test_the_per_user_views_reject_the_wrong_method(url_name, kwargs, methods, charlie, login):
    client = login(charlie)
    for method in methods:
        response = getattr(client, method)(reverse(url_name, kwargs=kwargs))
        assert response.status_code == 405, (method, url_name)


@pytest.mark.parametrize("case", [c for c in CASES if c.method == "get"], ids=_id)
@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_a_staff_member_who_is_also_a_member_keeps_staff_read_access(
    case, role, staff, alice, vera, workspace, invitation, login
):
    """Being a viewer (or editor) somewhere never hides what staff may read everywhere (the
    audit log, the pending invitations); it gives no write right beyond the role's."""
    Membership.objects.create(workspace=workspace, user=staff, role=role)
    client = login(staff)
    url = reverse(case.name, kwargs=_kwargs(case, workspace, vera, invitation))
    as_staff = case.expect["staff"]
    if as_staff == 404:  # leaving: staff looking in have nothing to leave; a member has
        as_staff = 200
    assert client.get(url).status_code == as_staff
    if case.name == "accounts:members":
        assert "pending@example.test" in client.get(url).content.decode()


def test_a_staff_viewer_reads_the_workspaces_audit_log(staff, alice, workspace, login):
    Membership.objects.create(workspace=workspace, user=staff, role=Membership.Role.VIEWER)
    event = AuditEvent.objects.create(
        workspace=workspace, actor=alice, actor_email=alice.email, action="workspace.renamed"
    )
    response = login(staff).get(reverse("accounts:audit", kwargs={"code": workspace.code}))
    assert response.status_code == 200
    assert event in response.context["page"].object_list
    rename = reverse("accounts:workspace_rename", kwargs={"code": workspace.code})
    assert login(staff).post(rename, {"name": "Nope"}).status_code == 403
