"""Authority is decided in the service, in the transaction that acts (issue 6, section 2).

A request passes the view's owner check, then its owner is demoted (or removed) before the
service acts: the service re-reads the actor's role under lock and refuses with the 403 the view
would have given. The key services (which call Taisly) are tested in test_keys.py.

Personas (tests/personas.py): alice owns ``workspace``, bob edits, vera views.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time

import pytest
from django.db import connection as db
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation

from accounts import services
from accounts.access import RoleRequired
from accounts.models import (
    AuditEvent,
    Invitation,
    Membership,
    TaislyConnection,
    User,
    Workspace,
)
from posting.connection import keys
from tests.personas import verify
from tests.polling import backend_pid, wait_until, waits_on_a_lock

pytestmark = pytest.mark.django_db

REFUSAL = "You can see this workspace, but this page is for members with more rights."


@pytest.fixture
def olga(workspace) -> User:
    """A second owner of ``workspace``: the one who demotes alice."""
    user = verify(User.objects.create_user(email="olga@example.test", password="x-pass-12345"))
    Membership.objects.create(workspace=workspace, user=user, role=Membership.Role.OWNER)
    return user


def _membership(workspace, user) -> Membership:
    """``user``'s membership of ``workspace`` (a Workspace or its primary key)."""
    return Membership.objects.get(workspace=workspace, user=user)


def _invitation(workspace, inviter) -> Invitation:
    invitation, _token = services.invitation_create(
        workspace=workspace,
        email="newcomer@example.test",
        role="viewer",
        inviter=inviter,
        request=RequestFactory().post("/"),
    )
    return invitation


# Each owner-only service, as a call by ``actor``; and what must be unchanged after a refusal.
ACTIONS = {
    "rename": lambda ws, actor, ctx: services.workspace_rename(
        workspace=ws, name="Renamed", actor=actor
    ),
    "delete": lambda ws, actor, ctx: services.workspace_delete(workspace=ws, actor=actor),
    "role_change": lambda ws, actor, ctx: services.member_role_change(
        membership=_membership(ws, ctx["vera"]), role="owner", actor=actor
    ),
    "remove": lambda ws, actor, ctx: services.member_remove(
        membership=_membership(ws, ctx["vera"]), actor=actor
    ),
    "invite": lambda ws, actor, ctx: services.invitation_create(
        workspace=ws,
        email="someone@example.test",
        role="owner",
        inviter=actor,
        request=RequestFactory().post("/"),
    ),
    "revoke_invitation": lambda ws, actor, ctx: services.invitation_revoke(
        invitation=ctx["invitation"], actor=actor
    ),
    "key_store": lambda ws, actor, ctx: keys.connection_store(
        workspace=ws, api_key="taisly_" + "c" * 64, plan="STARTER", actor=actor, verified=True
    ),
    "key_disconnect": lambda ws, actor, ctx: keys.connection_disconnect(workspace=ws, actor=actor),
}


def _state(workspace) -> tuple:
    """Everything an owner-only action could change, for comparing before and after."""
    return (
        workspace.__class__.objects.filter(pk=workspace.pk).values_list("name", flat=True).first(),
        sorted(Membership.objects.filter(workspace=workspace).values_list("user__email", "role")),
        sorted(
            Invitation.objects.filter(workspace=workspace).values_list(
                "email", "role", "revoked_at"
            )
        ),
        list(TaislyConnection.objects.filter(workspace=workspace).values_list("status", "plan")),
        AuditEvent.objects.filter(workspace=workspace).count(),
    )


@pytest.fixture
def context(workspace, alice, olga, vera):
    TaislyConnection.objects.create(
        workspace=workspace, api_key="taisly_" + "a" * 64, key_hint="taisly_…aaaa"
    )
    return {"vera": vera, "invitation": _invitation(workspace, olga)}


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("now", ["editor", "viewer", "removed"])
def test_a_demoted_owner_is_refused_by_every_owner_service(
    action, now, workspace, alice, olga, context
):
    """Alice passed the view's owner check; olga demoted (or removed) her before she acted."""
    if now == "removed":
        _membership(workspace, alice).delete()
    else:
        Membership.objects.filter(workspace=workspace, user=alice).update(role=now)
    before = _state(workspace)
    # (English whatever an earlier test left active in this thread: the sentence is checked.)
    with translation.override("en"), pytest.raises(RoleRequired) as refused:
        ACTIONS[action](workspace, alice, context)
    assert refused.value.message.startswith(REFUSAL)
    assert _state(workspace) == before


# What each owner-only service, let through, must have done (checked by ``_done``): the change
# itself, read back from the database, and the one event it records as the actor's.
def _renamed(pk, ctx, returned, event):
    assert Workspace.objects.get(pk=pk).name == "Renamed"
    assert event.details == {"from": "Acme", "to": "Renamed"}


def _deleted(pk, ctx, returned, event):
    assert not Workspace.objects.filter(pk=pk).exists()
    assert not Membership.objects.filter(workspace_id=pk).exists()
    assert not Invitation.objects.filter(workspace_id=pk).exists()
    assert not TaislyConnection.objects.filter(workspace_id=pk).exists()
    # The event outlives the workspace, with its name copied in.
    assert event.workspace_id is None and event.workspace_name == "Acme"


def _role_changed(pk, ctx, returned, event):
    assert _membership(pk, ctx["vera"]).role == Membership.Role.OWNER
    assert event.target == "vera@example.test"
    assert event.details == {"from": "viewer", "to": "owner"}


def _removed(pk, ctx, returned, event):
    assert not Membership.objects.filter(workspace_id=pk, user=ctx["vera"]).exists()
    assert User.objects.filter(pk=ctx["vera"].pk).exists()  # out of the workspace, not deleted
    assert event.target == "vera@example.test"
    assert event.details == {"role": "viewer", "left": False}


def _invited(pk, ctx, returned, event):
    invitation, token = returned
    invitation = Invitation.objects.get(pk=invitation.pk)
    assert (invitation.workspace_id, invitation.email, invitation.role) == (
        pk,
        "someone@example.test",
        "owner",
    )
    assert invitation.invited_by == ctx["alice"] and services.invitation_is_pending(invitation)
    # The link went out by email, and only its hash is kept.
    [sent] = [m for m in ctx["outbox"] if m.to == ["someone@example.test"]]
    assert token and token in sent.body
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert event.target == "someone@example.test" and event.details == {"role": "owner"}


def _invitation_revoked(pk, ctx, returned, event):
    invitation = Invitation.objects.get(pk=ctx["invitation"].pk)
    assert invitation.revoked_at is not None
    assert not services.invitation_is_pending(invitation)
    assert event.target == "newcomer@example.test"


def _key_stored(pk, ctx, returned, event):
    connection = TaislyConnection.objects.get(workspace_id=pk)
    assert connection.api_key == "taisly_" + "c" * 64  # the new key, decrypted
    assert connection.status == TaislyConnection.Status.ACTIVE
    assert (connection.key_hint, connection.plan) == ("taisly_…cccc", "STARTER")
    assert re.fullmatch("[0-9a-f]{64}", connection.key_fingerprint)
    assert connection.connected_by == ctx["alice"]
    assert connection.last_verified_at is not None
    assert event.details == {"hint": "taisly_…cccc", "plan": "STARTER"}


def _key_disconnected(pk, ctx, returned, event):
    connection = TaislyConnection.objects.get(workspace_id=pk)
    assert connection.status == TaislyConnection.Status.DISCONNECTED
    assert (connection.api_key, connection.key_fingerprint) == ("", "")
    assert connection.key_hint == "taisly_…aaaa"  # kept, to say which key it was
    assert event.target == "taisly_…aaaa"


DONE = {
    "rename": (AuditEvent.Action.WORKSPACE_RENAMED, _renamed),
    "delete": (AuditEvent.Action.WORKSPACE_DELETED, _deleted),
    "role_change": (AuditEvent.Action.MEMBER_ROLE_CHANGED, _role_changed),
    "remove": (AuditEvent.Action.MEMBER_REMOVED, _removed),
    "invite": (AuditEvent.Action.MEMBER_INVITED, _invited),
    "revoke_invitation": (AuditEvent.Action.INVITATION_REVOKED, _invitation_revoked),
    "key_store": (AuditEvent.Action.KEY_CONNECTED, _key_stored),
    "key_disconnect": (AuditEvent.Action.KEY_DISCONNECTED, _key_disconnected),
}


def test_every_owner_service_has_its_effect_checked():
    assert DONE.keys() == ACTIONS.keys()


@pytest.mark.parametrize("action", ACTIONS)
def test_an_owner_still_may(action, workspace, alice, olga, context, mailoutbox):
    """The same calls by an owner go through: each makes its change and records one event, as
    alice's."""
    pk = workspace.pk
    earlier = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    returned = ACTIONS[action](workspace, alice, context)
    expected_action, check = DONE[action]
    [event] = AuditEvent.objects.filter(pk__gt=earlier)
    assert (event.action, event.actor) == (expected_action, alice)
    check(pk, {**context, "alice": alice, "outbox": mailoutbox}, returned, event)
    if action != "delete":  # and alice is still an owner
        assert _membership(pk, alice).role == Membership.Role.OWNER


def test_a_member_may_leave_whatever_their_role(workspace, alice, vera):
    services.member_remove(membership=_membership(workspace, vera), actor=vera)
    assert not Membership.objects.filter(workspace=workspace, user=vera).exists()


def test_an_editor_cannot_remove_someone_else(workspace, alice, bob, vera):
    with pytest.raises(RoleRequired):
        services.member_remove(membership=_membership(workspace, vera), actor=bob)
    assert Membership.objects.filter(workspace=workspace, user=vera).exists()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("accounts:workspace_rename", {"name": "Renamed"}),
        ("accounts:member_invite", {"email": "someone@example.test", "role": "owner"}),
    ],
)
def test_the_view_answers_the_services_refusal_with_its_own_403(
    name, data, monkeypatch, workspace, alice, olga, login
):
    """The view's early check passed; the demotion lands before the service's: the same 403
    page the view gives an editor."""
    real = services.lock_actor_role

    def demoted_meanwhile(**kwargs):
        Membership.objects.filter(workspace=workspace, user=alice).update(role="editor")
        return real(**kwargs)

    monkeypatch.setattr(services, "lock_actor_role", demoted_meanwhile)
    response = login(alice).post(reverse(name, kwargs={"code": workspace.code}), data)
    assert response.status_code == 403
    assert REFUSAL in response.content.decode()
    assert _state(workspace)[0] == "Acme"
    assert not Invitation.objects.filter(email="someone@example.test").exists()


# --- The race itself, on two connections ---------------------------------------------------


RACED = {
    "rename": ACTIONS["rename"],
    "invite": ACTIONS["invite"],
    "remove": ACTIONS["remove"],
    "key_disconnect": ACTIONS["key_disconnect"],
}


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", RACED)
def test_an_owner_demoted_while_their_request_is_in_flight_is_refused(
    action, monkeypatch, workspace, alice, olga, vera
):
    """Thread A (olga demoting alice) holds alice's membership row locked, uncommitted. Thread B
    (alice's request, past the view's check) reaches the service, blocks on that lock, then
    sees alice is an editor and is refused. (SQLite lets one writer in at a time, so B would
    only ever start after A: no race to test, hence PostgreSQL only.)"""
    TaislyConnection.objects.create(workspace=workspace, api_key="taisly_" + "a" * 64)
    ctx = {"vera": vera}
    before = _state(workspace)
    demoting = threading.Event()
    release = threading.Event()
    real_audit = services.audit_record

    def audit_slowly(**kwargs):
        # A is inside its transaction, alice's row updated and locked, nothing committed yet.
        if threading.current_thread().name == "demote":
            demoting.set()
            assert release.wait(10)
        return real_audit(**kwargs)

    monkeypatch.setattr(services, "audit_record", audit_slowly)
    outcome: dict[str, object] = {}

    def demote():
        try:
            services.member_role_change(
                membership=_membership(workspace, alice), role="editor", actor=olga
            )
        except Exception as exc:
            outcome["demote"] = exc
        finally:
            db.close()

    def act():
        try:
            outcome["pid"] = backend_pid()
            RACED[action](workspace, alice, ctx)
        except Exception as exc:
            outcome["act"] = exc
        finally:
            outcome["act_done_at"] = time.monotonic()
            db.close()

    a = threading.Thread(target=demote, name="demote")
    b = threading.Thread(target=act, name="act")

    def b_waits_on_a_lock() -> bool:
        if not b.is_alive():
            raise AssertionError(
                "the service did not wait for the lock on the actor's membership: "
                f"it finished ({outcome.get('act')!r}) while the demotion held it"
            )
        return "pid" in outcome and waits_on_a_lock(outcome["pid"])

    a.start()
    assert demoting.wait(10)
    b.start()
    wait_until(b_waits_on_a_lock, what="alice's request to queue behind the demotion's lock")
    released_at = time.monotonic()
    release.set()
    a.join(10)
    b.join(10)
    assert not a.is_alive() and not b.is_alive()
    assert "demote" not in outcome
    assert isinstance(outcome.get("act"), RoleRequired), outcome.get("act")
    assert outcome["act_done_at"] >= released_at  # B finished only after A let go
    assert _membership(workspace, alice).role == "editor"
    name, members, invitations, connection, events = _state(workspace)
    assert (name, invitations, connection) == (before[0], before[2], before[3])
    assert ("vera@example.test", "viewer") in members
    assert events == before[4] + 1  # the demotion's event, nothing of alice's
