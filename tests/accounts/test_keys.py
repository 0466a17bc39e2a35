"""The Taisly key page and its actions, against the sandbox over real HTTP.

Personas (tests/personas.py): alice owns ``workspace``, bob edits, vera views, charlie is an
outsider, staff oversees.
"""

from __future__ import annotations

import re
import secrets
import threading
import uuid
from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.db import connection as db
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Membership, TaislyConnection, User
from posting.connection import keys
from posting.taisly import KeyInfo, TaislyAuthError, TaislyClient, taisly_call
from tests.polling import backend_pid, wait_until, waits_on_a_lock

pytestmark = pytest.mark.django_db

WRITE_VIEWS = ("connect", "regenerate", "revoke", "disconnect")
ALL_VIEWS = ("detail", *WRITE_VIEWS)


def url(name: str, workspace_or_code) -> str:
    code = getattr(workspace_or_code, "code", workspace_or_code)
    return reverse(f"taisly:{name}", kwargs={"code": code})


def random_key() -> str:
    return "taisly_" + secrets.token_hex(32)


@pytest.fixture
def taisly(settings, sandbox):
    """The dashboard's client pointed at the test sandbox."""
    settings.TAISLY_BASE_URL = sandbox.base_url
    return sandbox


@pytest.fixture
def calls():
    """Every Taisly call made during the test, as CallRecords."""
    records = []

    def receiver(sender, record, context, **kwargs):
        records.append(record)

    taisly_call.connect(receiver, weak=False, dispatch_uid="test_keys_calls")
    yield records
    taisly_call.disconnect(dispatch_uid="test_keys_calls")


@pytest.fixture
def connected(workspace, alice, taisly, sandbox_account):
    """``workspace`` with ``sandbox_account``'s key connected by alice."""
    keys.connection_connect(
        workspace=workspace, api_key=sandbox_account["api_key"], plan=None, actor=alice
    )
    return sandbox_account


def key_works(api_key: str) -> bool:
    try:
        with TaislyClient(api_key) as client:
            client.key_info()
    except TaislyAuthError:
        return False
    return True


def key_events():
    # Other events (a personal workspace created for a new user) are not this test's business.
    return AuditEvent.objects.filter(action__startswith="key.")


def connection_of(workspace) -> TaislyConnection | None:
    return TaislyConnection.objects.filter(workspace=workspace).first()


# --- Access --------------------------------------------------------------------------------


def test_the_owner_sees_plan_hint_and_actions(login, alice, workspace, connected):
    response = login(alice).get(url("detail", workspace))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Starter" in body
    assert f"taisly_…{connected['api_key'][-4:]}" in body
    assert "50 requests an hour" in body
    assert "Alice" in body
    for action in ("regenerate", "revoke", "disconnect"):
        assert url(action, workspace) in body
    assert connected["api_key"] not in body


@pytest.mark.parametrize("persona", ["bob", "vera", "staff"])
def test_members_and_staff_see_the_page_without_actions(
    request, persona, login, workspace, connected
):
    user = request.getfixturevalue(persona)
    response = login(user).get(url("detail", workspace))
    assert response.status_code == 200
    body = response.content.decode()
    assert f"taisly_…{connected['api_key'][-4:]}" in body
    for action in WRITE_VIEWS:
        assert url(action, workspace) not in body
    assert "owners can connect or change its Taisly key" in body


def test_a_workspace_without_a_key_says_so(login, alice, workspace):
    response = login(alice).get(url("detail", workspace))
    assert response.status_code == 200
    assert b'data-testid="no-key"' in response.content
    assert url("connect", workspace).encode() in response.content


@pytest.mark.parametrize("name", ALL_VIEWS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_an_outsider_gets_404_and_taisly_is_never_called(
    name, method, login, charlie, workspace, connected, calls
):
    response = getattr(login(charlie), method)(url(name, workspace), {"api_key": random_key()})
    # The detail page answers only GET, whoever asks: a 405 says nothing about the workspace.
    assert response.status_code == (405 if (name, method) == ("detail", "post") else 404)
    assert calls == []
    assert connection_of(workspace).status == TaislyConnection.Status.ACTIVE


@pytest.mark.parametrize("name", WRITE_VIEWS)
@pytest.mark.parametrize("persona", ["bob", "vera", "staff"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_non_owners_get_403_on_every_write_and_taisly_is_never_called(
    request, name, persona, method, login, workspace, connected, calls
):
    client = login(request.getfixturevalue(persona))
    response = getattr(client, method)(url(name, workspace), {"api_key": random_key()})
    assert response.status_code == 403
    assert calls == []
    connection = connection_of(workspace)
    assert connection.status == TaislyConnection.Status.ACTIVE
    assert connection.api_key == connected["api_key"]


@pytest.mark.parametrize("name", ALL_VIEWS)
def test_a_bad_code_is_a_404(name, login, alice, calls):
    client = login(alice)
    for method in ("get", "post"):
        response = getattr(client, method)(url(name, uuid.uuid4()), {"api_key": random_key()})
        assert response.status_code == (405 if (name, method) == ("detail", "post") else 404)
        path = f"/w/not-a-uuid/taisly/{'' if name == 'detail' else name + '/'}"
        assert getattr(client, method)(path).status_code == 404
    assert calls == []


def test_the_detail_page_rejects_post(login, alice, workspace):
    assert login(alice).post(url("detail", workspace)).status_code == 405


@pytest.mark.parametrize("name", WRITE_VIEWS)
def test_actions_reject_other_methods(name, login, alice, workspace, calls):
    client = login(alice)
    assert client.put(url(name, workspace)).status_code == 405
    assert client.delete(url(name, workspace)).status_code == 405
    assert calls == []


@pytest.mark.parametrize("name", ALL_VIEWS)
def test_anonymous_visitors_are_sent_to_log_in(name, client, workspace):
    response = client.get(url(name, workspace))
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


# --- Connect -------------------------------------------------------------------------------


def test_the_connect_form_hides_what_is_typed(login, alice, workspace):
    response = login(alice).get(url("connect", workspace))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'type="password"' in body
    assert 'autocomplete="off"' in body
    assert "no-store" in response["Cache-Control"]


def test_it_connects_a_good_key(login, alice, workspace, taisly, sandbox_account, calls):
    api_key = sandbox_account["api_key"]
    client = login(alice)
    response = client.post(url("connect", workspace), {"api_key": api_key, "plan": ""})
    assert response.status_code == 302
    assert response.url == url("detail", workspace)
    assert [c.endpoint for c in calls] == ["GET /user/api-key", "GET /platform/platforms"]

    connection = connection_of(workspace)
    assert connection.api_key == api_key
    assert connection.key_hint == f"taisly_…{api_key[-4:]}"
    assert connection.plan == "STARTER"
    assert connection.status == TaislyConnection.Status.ACTIVE
    assert connection.connected_by == alice
    assert connection.last_verified_at is not None

    event = AuditEvent.objects.get(action=AuditEvent.Action.KEY_CONNECTED)
    assert event.workspace == workspace
    assert event.actor == alice
    assert event.details == {"hint": connection.key_hint, "plan": "STARTER"}

    page = client.get(response.url).content.decode()
    assert "connected (plan Starter, 5 social accounts)" in page
    assert api_key not in page


def test_the_plan_comes_from_taisly_not_the_form(login, alice, workspace, taisly):
    account = taisly.create_account(plan="PRO", platforms=("TikTok", "YouTube"))
    response = login(alice).post(
        url("connect", workspace), {"api_key": account["api_key"], "plan": "STARTER"}
    )
    assert response.status_code == 302
    assert connection_of(workspace).plan == "PRO"
    page = login(alice).get(response.url).content.decode()
    assert "1000 requests an hour" in page


class _NoPlanClient:
    """A Taisly whose key info names no plan we know (the docs do not promise one)."""

    def __init__(self, api_key, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def key_info(self):
        return KeyInfo(plan="", key_hint="", created_at=None, last_used_at=None)

    def platforms(self):
        return ()


def test_without_a_plan_from_taisly_the_owners_choice_is_used(monkeypatch, login, alice, workspace):
    monkeypatch.setattr(keys.quota, "GovernedClient", _NoPlanClient)
    client = login(alice)
    response = client.post(url("connect", workspace), {"api_key": random_key(), "plan": ""})
    assert response.status_code == 422
    assert "Choose the plan" in response.content.decode()
    assert connection_of(workspace) is None

    response = client.post(
        url("connect", workspace), {"api_key": random_key(), "plan": "INFLUENCER"}
    )
    assert response.status_code == 302
    assert connection_of(workspace).plan == "INFLUENCER"


def assert_refused(response, api_key: str, sentence: str, workspace) -> None:
    body = response.content.decode()
    assert response.status_code == 422
    assert sentence in body.replace("&#x27;", "'")
    assert "Nothing was saved." in body
    assert api_key not in body
    assert api_key[7:] not in body
    assert connection_of(workspace) is None
    assert not key_events().exists()


def test_a_wrong_key_is_refused(login, alice, workspace, taisly, calls):
    api_key = random_key()
    response = login(alice).post(url("connect", workspace), {"api_key": api_key})
    assert_refused(response, api_key, "Taisly did not accept this key", workspace)
    assert [c.status for c in calls] == [401]


def test_a_free_plan_key_is_refused(login, alice, workspace, taisly):
    account = taisly.create_account(plan="FREE")
    response = login(alice).post(url("connect", workspace), {"api_key": account["api_key"]})
    assert_refused(response, account["api_key"], "a FREE plan cannot use the API", workspace)


@pytest.mark.parametrize(
    ("mode", "extra", "sentence"),
    [
        ("500", {}, "Taisly had a problem of its own (HTTP 500)"),
        ("garbage", {}, "Taisly's answer could not be understood"),
        ("timeout", {"delay": 3}, "Taisly did not answer in time"),
        ("drop", {}, "Taisly could not be reached"),
        ("429", {"retryAfter": 600}, "Try again in about 10 minutes"),
    ],
)
def test_taisly_failures_get_a_sentence_and_nothing_is_stored(
    mode, extra, sentence, settings, login, alice, workspace, taisly, sandbox_account
):
    settings.TAISLY_READ_TIMEOUT = 0.5
    taisly.fault(mode, **extra)
    response = login(alice).post(url("connect", workspace), {"api_key": sandbox_account["api_key"]})
    assert_refused(response, sandbox_account["api_key"], sentence, workspace)


def test_a_failure_on_the_platforms_call_stores_nothing(
    monkeypatch, login, alice, workspace, taisly, sandbox_account, calls
):
    # Key info passes; the platforms call that follows meets a 500.
    original = TaislyClient.platforms

    def platforms_after_a_fault(self):
        taisly.fault("500")
        return original(self)

    monkeypatch.setattr(TaislyClient, "platforms", platforms_after_a_fault)
    response = login(alice).post(url("connect", workspace), {"api_key": sandbox_account["api_key"]})
    assert_refused(response, sandbox_account["api_key"], "HTTP 500", workspace)
    assert [(c.endpoint, c.status) for c in calls] == [
        ("GET /user/api-key", 200),
        ("GET /platform/platforms", 500),
    ]


def test_a_key_of_the_wrong_shape_is_refused_without_asking_taisly(login, alice, workspace, calls):
    response = login(alice).post(url("connect", workspace), {"api_key": "sk_live_not_taisly_1234"})
    assert response.status_code == 422
    body = response.content.decode()
    assert "does not look like a Taisly key" in body
    assert "sk_live_not_taisly_1234" not in body
    assert calls == []


def test_connecting_another_key_replaces_the_stored_one(login, alice, workspace, connected, taisly):
    other = taisly.create_account(plan="INFLUENCER")
    response = login(alice).post(url("connect", workspace), {"api_key": other["api_key"]})
    assert response.status_code == 302
    connection = connection_of(workspace)
    assert connection.api_key == other["api_key"]
    assert connection.plan == "INFLUENCER"
    assert TaislyConnection.objects.count() == 1
    assert AuditEvent.objects.filter(action=AuditEvent.Action.KEY_CONNECTED).count() == 2


# --- Regenerate ----------------------------------------------------------------------------


def test_regenerate_asks_to_confirm_first(login, alice, workspace, connected, calls):
    response = login(alice).get(url("regenerate", workspace))
    assert response.status_code == 200
    assert b"stops working at once" in response.content
    assert f'action="{url("regenerate", workspace)}"'.encode() in response.content
    assert calls == []


def test_regenerate_stores_the_new_key_and_the_old_one_stops_working(
    login, alice, workspace, connected, calls
):
    old_key = connected["api_key"]
    client = login(alice)
    response = client.post(url("regenerate", workspace))
    assert response.status_code == 302
    assert [c.endpoint for c in calls] == ["POST /user/api-key/generate"]

    connection = connection_of(workspace)
    new_key = connection.api_key
    assert new_key != old_key and new_key.startswith("taisly_")
    assert connection.key_hint == f"taisly_…{new_key[-4:]}"
    assert connection.status == TaislyConnection.Status.ACTIVE
    assert not key_works(old_key)
    assert key_works(new_key)

    event = AuditEvent.objects.get(action=AuditEvent.Action.KEY_REGENERATED)
    assert event.details == {"hint": connection.key_hint, "plan": "STARTER"}
    page = client.get(response.url).content.decode()
    assert "generated and stored" in page
    assert new_key not in page and old_key not in page


def test_when_storing_the_new_key_fails_it_is_shown_once(
    monkeypatch, caplog, login, alice, workspace, connected
):
    original = keys._mark_if_unchanged

    def broken_store(connection, token, **fields):
        if "api_key" in fields:  # storing the new key (marking the old one invalid still works)
            raise DatabaseError("disk I/O error")
        return original(connection, token, **fields)

    client = login(alice)
    monkeypatch.setattr(keys, "_mark_if_unchanged", broken_store)
    response = client.post(url("regenerate", workspace))
    monkeypatch.undo()

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert "shown only this once" in body
    # The one key that works now is on the page, exactly once.
    shown = re.findall(r"taisly_[0-9a-f]{64}", body)
    assert len(shown) == 1
    new_key = shown[0]
    assert new_key != connected["api_key"]
    assert key_works(new_key)
    assert not key_works(connected["api_key"])
    # The stored (old, dead) key is marked invalid; nothing of the new key is kept or logged.
    connection = connection_of(workspace)
    assert connection.status == TaislyConnection.Status.INVALID
    assert connection.api_key == connected["api_key"]
    assert new_key not in caplog.text and new_key[7:] not in caplog.text
    assert "Storing the regenerated Taisly key" in caplog.text
    event = AuditEvent.objects.get(action=AuditEvent.Action.KEY_REGENERATED)
    assert event.details["stored"] is False
    # Reloading the detail page does not show it again.
    assert new_key not in client.get(url("detail", workspace)).content.decode()


def test_regenerating_a_key_taisly_no_longer_accepts_marks_it_invalid(
    login, alice, workspace, connected
):
    with TaislyClient(connected["api_key"]) as direct:
        direct.key_revoke()
    response = login(alice).post(url("regenerate", workspace), follow=True)
    assert "Taisly no longer accepts the stored key" in response.content.decode()
    assert connection_of(workspace).status == TaislyConnection.Status.INVALID
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.KEY_REGENERATED).exists()


def test_a_rate_limited_key_is_not_sent_to_taisly_again_until_it_may(
    login, alice, workspace, connected, taisly, calls
):
    taisly.fault("429", retryAfter=120)
    client = login(alice)
    response = client.post(url("regenerate", workspace), follow=True)
    assert "Try again in about 2 minutes" in response.content.decode()
    connection = connection_of(workspace)
    assert connection.blocked_until > timezone.now()
    assert connection.api_key == connected["api_key"]
    assert len(calls) == 1

    response = client.post(url("regenerate", workspace), follow=True)
    assert "hourly request limit" in response.content.decode()
    assert len(calls) == 1


def test_a_rate_limited_key_can_still_be_revoked(login, alice, workspace, connected, calls):
    # A leaked key being burned is exactly when an owner must be able to revoke it.
    TaislyConnection.objects.filter(workspace=workspace).update(
        blocked_until=timezone.now() + timedelta(minutes=30)
    )
    response = login(alice).post(url("revoke", workspace), follow=True)
    assert [c.endpoint for c in calls] == ["POST /user/api-key/revoke"]
    assert connection_of(workspace).status == TaislyConnection.Status.REVOKED
    assert "revoked at Taisly" in response.content.decode()
    assert not key_works(connected["api_key"])


def test_an_ambiguous_failure_says_the_key_may_have_changed(
    login, alice, workspace, connected, taisly
):
    taisly.fault("500")
    response = login(alice).post(url("regenerate", workspace), follow=True)
    assert "may or may not have issued a new key" in response.content.decode()
    assert connection_of(workspace).api_key == connected["api_key"]


# --- Revoke --------------------------------------------------------------------------------


def test_revoke_revokes_at_taisly_and_forgets_the_key(login, alice, workspace, connected, calls):
    client = login(alice)
    confirm = client.get(url("revoke", workspace))
    assert confirm.status_code == 200 and calls == []

    response = client.post(url("revoke", workspace), follow=True)
    assert [c.endpoint for c in calls] == ["POST /user/api-key/revoke"]
    assert "revoked at Taisly" in response.content.decode()
    connection = connection_of(workspace)
    assert connection.status == TaislyConnection.Status.REVOKED
    assert connection.api_key == ""
    assert connection.key_hint == f"taisly_…{connected['api_key'][-4:]}"
    assert not key_works(connected["api_key"])
    event = AuditEvent.objects.get(action=AuditEvent.Action.KEY_REVOKED)
    assert event.details == {"hint": connection.key_hint, "plan": "STARTER"}
    # Only connecting a new key is offered now.
    page = client.get(url("detail", workspace)).content.decode()
    assert url("connect", workspace) in page and url("regenerate", workspace) not in page


def test_revoking_a_key_already_dead_at_taisly_marks_it_revoked_anyway(
    login, alice, workspace, connected
):
    with TaislyClient(connected["api_key"]) as direct:
        direct.key_revoke()
    response = login(alice).post(url("revoke", workspace), follow=True)
    assert "Taisly no longer accepted key" in response.content.decode()
    connection = connection_of(workspace)
    assert connection.status == TaislyConnection.Status.REVOKED
    assert connection.api_key == ""
    event = AuditEvent.objects.get(action=AuditEvent.Action.KEY_REVOKED)
    assert event.details["already_invalid"] is True


def test_a_failed_revoke_changes_nothing(login, alice, workspace, connected, taisly):
    taisly.fault("500")
    response = login(alice).post(url("revoke", workspace), follow=True)
    assert "may not have been revoked" in response.content.decode()
    connection = connection_of(workspace)
    assert connection.status == TaislyConnection.Status.ACTIVE
    assert connection.api_key == connected["api_key"]
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.KEY_REVOKED).exists()


# --- Disconnect ----------------------------------------------------------------------------


def test_disconnect_forgets_the_key_without_calling_taisly(
    login, alice, workspace, connected, calls
):
    client = login(alice)
    assert b"keeps working" in client.get(url("disconnect", workspace)).content
    response = client.post(url("disconnect", workspace), follow=True)
    assert "disconnected" in response.content.decode()
    assert calls == []
    connection = connection_of(workspace)
    assert connection.status == TaislyConnection.Status.DISCONNECTED
    assert connection.api_key == ""
    assert key_works(connected["api_key"])
    assert AuditEvent.objects.filter(action=AuditEvent.Action.KEY_DISCONNECTED).count() == 1
    assert b'data-testid="no-key"' in client.get(url("detail", workspace)).content


def test_actions_without_a_key_say_so(login, alice, workspace, calls):
    client = login(alice)
    for name in ("regenerate", "revoke", "disconnect"):
        response = client.post(url(name, workspace), follow=True)
        assert "has no Taisly key connected" in response.content.decode()
        response = client.get(url(name, workspace), follow=True)
        assert "has no Taisly key connected" in response.content.decode()
    assert calls == []
    assert not key_events().exists()


def test_an_invalid_key_is_not_sent_to_regenerate(login, alice, workspace, connected, calls):
    TaislyConnection.objects.filter(workspace=workspace).update(
        status=TaislyConnection.Status.INVALID
    )
    response = login(alice).post(url("regenerate", workspace), follow=True)
    assert "cannot be regenerated. Connect a new key." in response.content.decode()
    assert calls == []


def test_an_empty_connect_form_says_what_is_missing(login, alice, workspace, calls):
    response = login(alice).post(url("connect", workspace), {})
    assert response.status_code == 422
    assert b"This field is required." in response.content
    assert calls == []


def test_the_detail_page_has_a_fixed_number_of_queries(
    login, alice, workspace, connected, django_assert_num_queries
):
    client = login(alice)
    # 1 session, 2 user, 3 the user's memberships with their workspaces (access helper and
    # navigation), 4 connection with connected_by (key deferred).
    with django_assert_num_queries(4):
        assert client.get(url("detail", workspace)).status_code == 200


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("second_owner", ["alice again", "olga"])
def test_two_first_connects_at_once_store_one_connection(
    monkeypatch, workspace, alice, second_owner
):
    """Two "Check and connect" at once for a workspace without a key; the second must wait for
    the first and update its row, not fail on the one-per-workspace constraint.

    A double click (alice again) waits already on alice's membership, which the first locks as
    its actor. Two owners at once (olga) lock different memberships: both find no row, and the
    second's insert waits on the first's uncommitted one (get_or_create then finds it).
    (SQLite lets one writer in at a time: the two could only run one after the other.)"""
    if second_owner == "olga":
        actors = {"first": alice, "second": User.objects.create_user(email="olga@example.test")}
        Membership.objects.create(workspace=workspace, user=actors["second"], role="owner")
    else:
        actors = {"first": alice, "second": alice}
    first_inside = threading.Event()
    release = threading.Event()
    original_audit = keys.audit_record

    def audit_slowly(**kwargs):
        # Holds the first request's transaction open (its row inserted, not committed).
        if threading.current_thread().name == "first":
            first_inside.set()
            release.wait(10)
        return original_audit(**kwargs)

    monkeypatch.setattr(keys, "audit_record", audit_slowly)
    errors = []
    pids = {}

    def store(api_key):
        name = threading.current_thread().name
        try:
            pids[name] = backend_pid()
            keys.connection_store(
                workspace=workspace,
                api_key=api_key,
                plan="STARTER",
                actor=actors[name],
                verified=True,
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            db.close()

    second_key = random_key()
    first = threading.Thread(target=store, args=(random_key(),), name="first")
    second = threading.Thread(target=store, args=(second_key,), name="second")

    def second_waits_on_a_lock() -> bool:
        if not second.is_alive():
            raise AssertionError(f"the second connect did not wait for the first's: {errors}")
        return "second" in pids and waits_on_a_lock(pids["second"])

    first.start()
    assert first_inside.wait(10)
    second.start()
    # The second queues behind the first's uncommitted transaction, then the first commits.
    wait_until(second_waits_on_a_lock, what="the second connect to wait for the first's")
    release.set()
    first.join(10)
    second.join(10)
    assert errors == []
    assert TaislyConnection.objects.filter(workspace=workspace).count() == 1
    assert connection_of(workspace).api_key == second_key
    assert key_events().count() == 2


@pytest.mark.parametrize(
    ("status", "action", "sentence"),
    [
        ("invalid", "regenerate", "cannot be regenerated. Connect a new key."),
        ("revoked", "regenerate", "has no Taisly key connected"),
        ("revoked", "revoke", "has no Taisly key connected"),
        ("disconnected", "disconnect", "has no Taisly key connected"),
    ],
)
def test_no_confirmation_is_offered_for_an_action_the_key_cannot_take(
    status, action, sentence, login, alice, workspace, connected, calls
):
    """A typed or stale URL: the reason, not a confirmation promising what cannot happen."""
    TaislyConnection.objects.filter(workspace=workspace).update(status=status)
    response = login(alice).get(url(action, workspace), follow=True)
    assert response.redirect_chain == [(url("detail", workspace), 302)]
    assert sentence in response.content.decode()
    assert calls == []


def test_a_double_click_on_regenerate_leaves_the_new_key_active_and_says_so(
    monkeypatch, login, alice, workspace, connected
):
    """The first click's new key is stored while the second click's request, made with the old
    key, is refused by Taisly: the stored key must not be called invalid."""
    original = TaislyClient.key_generate
    stored = {}

    def the_other_click_finishes_first(self):
        if not stored:
            with TaislyClient(connected["api_key"]) as other:
                generated = original(other)
            stored["key"] = generated.api_key
            keys.connection_store(
                workspace=workspace,
                api_key=generated.api_key,
                plan="STARTER",
                actor=alice,
                verified=True,
            )
        return original(self)  # this click's request still carries the old key: 401

    client = login(alice)
    monkeypatch.setattr(TaislyClient, "key_generate", the_other_click_finishes_first)
    response = client.post(url("regenerate", workspace), follow=True)
    page = response.content.decode()
    assert "changed by someone else meanwhile" in page
    assert "marked invalid" not in page
    connection = connection_of(workspace)
    assert connection.status == TaislyConnection.Status.ACTIVE
    assert connection.api_key == stored["key"]
    assert key_works(stored["key"])


# --- Authority under lock (issue 6, section 2) -------------------------------------------------


REFUSAL = "You can see this workspace, but this page is for members with more rights."


def _demote(workspace, user) -> None:
    from accounts.models import Membership

    Membership.objects.filter(workspace=workspace, user=user).update(role="editor")


@pytest.mark.parametrize("action", ["connect", "regenerate", "revoke"])
def test_a_demoted_owner_never_reaches_taisly(action, workspace, alice, connected, calls):
    """Demoted after the view's check: refused by the check before the call, so Taisly is not
    asked (a regenerate or revoke cannot be undone)."""
    from accounts.access import RoleRequired

    _demote(workspace, alice)
    calls.clear()
    before = connection_of(workspace).api_key
    with pytest.raises(RoleRequired):
        if action == "connect":
            keys.connection_connect(
                workspace=workspace, api_key=random_key(), plan=None, actor=alice
            )
        else:
            getattr(keys, f"connection_{action}")(workspace=workspace, actor=alice)
    assert calls == []
    assert connection_of(workspace).api_key == before
    assert key_works(before)


@pytest.mark.parametrize("call", ["key_generate", "key_revoke", "platforms"])
def test_an_owner_demoted_during_the_taisly_call_stores_nothing(
    call, monkeypatch, login, alice, workspace, connected
):
    """The demotion lands while Taisly is answering: the store step's own check refuses. What
    Taisly's answer made true is recorded (a regenerated or revoked key is dead: invalid), never
    the demoted owner's result, and a new key is not shown to them."""
    original = getattr(TaislyClient, call)

    def demoted_meanwhile(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        _demote(workspace, alice)
        return result

    monkeypatch.setattr(TaislyClient, call, demoted_meanwhile)
    client = login(alice)
    if call == "platforms":  # connect verifies a key with key_info, then platforms
        other = connected["api_key"]  # (connecting the same key again: it works at Taisly)
        TaislyConnection.objects.filter(workspace=workspace).update(plan="PRO")
        response = client.post(url("connect", workspace), {"api_key": other})
    else:
        action = "regenerate" if call == "key_generate" else "revoke"
        response = client.post(url(action, workspace))
    assert response.status_code == 403
    body = response.content.decode()
    assert REFUSAL in body
    assert not re.search(r"taisly_[0-9a-f]{64}", body)  # no new key shown
    connection = connection_of(workspace)
    assert connection.api_key == connected["api_key"]  # nothing the demoted owner got is stored
    if call == "platforms":
        assert connection.status == TaislyConnection.Status.ACTIVE
        assert connection.plan == "PRO"  # not overwritten by the refused connect
        assert key_events().count() == 1  # the fixture's connect only
    else:
        assert connection.status == TaislyConnection.Status.INVALID  # its key is dead
        assert not key_works(connected["api_key"])


def test_regenerate_does_not_overwrite_a_key_stored_meanwhile_and_shows_the_new_one_once(
    monkeypatch, login, alice, workspace, connected, sandbox
):
    """Another owner connects a different key while this regenerate is at Taisly: theirs stays,
    and the key this click made (the old one is dead now) is shown once, as when storing fails."""
    theirs = sandbox.create_account()["api_key"]
    original = TaislyClient.key_generate

    def another_owner_connects_meanwhile(self):
        generated = original(self)
        keys.connection_store(
            workspace=workspace, api_key=theirs, plan="STARTER", actor=alice, verified=True
        )
        return generated

    monkeypatch.setattr(TaislyClient, "key_generate", another_owner_connects_meanwhile)
    response = login(alice).post(url("regenerate", workspace))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert "meanwhile, so the new key was not saved over theirs" in body
    shown = re.findall(r"taisly_[0-9a-f]{64}", body)
    assert len(shown) == 1 and shown[0] not in (theirs, connected["api_key"])
    assert key_works(shown[0])
    connection = connection_of(workspace)
    assert connection.api_key == theirs
    assert connection.status == TaislyConnection.Status.ACTIVE
    unstored = key_events().filter(action=AuditEvent.Action.KEY_REGENERATED).get()
    assert unstored.details["stored"] is False
