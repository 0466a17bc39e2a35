"""What an attack review of the one-way-rooms refactor sent: requests across workspaces, staff
looking in, odd values on every route, and the defects it found (a NUL in a rule id was a 500,
a broken webhook response body escaped the try and was retried forever unlogged, the sync
services did not check their actor), each kept here as a test that failed before its fix.

Personas (tests/personas.py): alice owns ``workspace``, bob edits, vera views, charlie is an
outsider, staff is staff. ``populated`` (tests/accounts/test_url_walk.py) fills the workspace
with a key, a post, a rule, an alert, a webhook and a delivery.
"""

from __future__ import annotations

import re

import pytest
import responses
from django.db import connection as db
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.access import RoleRequired
from accounts.models import Membership, Workspace
from posting.models import PostResult
from tests.accounts.test_url_walk import _urls, _workspace_objects, all_routes
from tests.accounts.test_url_walk import populated as _populated
from tests.posting.factories import make_platforms, make_post

populated = _populated  # the url walk's fixture: a key, a post, a rule, an alert, a webhook

pytestmark = pytest.mark.django_db

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.I)


def _writes(queries) -> list[str]:
    """The writing statements of a request, but the session's own (force_login, messages)."""
    return [
        q["sql"][:160]
        for q in queries.captured_queries
        if WRITE.match(q["sql"]) and "django_session" not in q["sql"]
    ]


@pytest.fixture
def failed_post(workspace, alice):
    platforms = make_platforms(workspace)
    return make_post(
        workspace,
        platforms,
        {"X": "FAILED:DESCRIPTION_TOO_LONG", "TikTok": "SUCCESS", "YouTube": "SUCCESS"},
        author=alice,
        taisly_id="t-1",
    )


def _post_url(post, name="posting:post") -> str:
    return reverse(name, kwargs={"code": post.workspace.code, "post_code": post.code})


# --- 1. A NUL in a repost rule's id: a 500 for any member ------------------------------------


@pytest.mark.parametrize(
    ("who", "method", "action"),
    [("bob", "post", "pause"), ("bob", "post", "delete"), ("vera", "get", "delete")],
)
def test_a_nul_in_a_rule_id_is_a_404(workspace, alice, bob, vera, who, method, action):
    client = Client(raise_request_exception=False)
    client.force_login({"bob": bob, "vera": vera}[who])
    url = f"/w/{workspace.code}/reposts/%00/{action}/"
    response = getattr(client, method)(url)
    # PostgreSQL: DataError "PostgreSQL text fields cannot contain NUL (0x00) bytes", raised by
    # posting.access.get_repost_rule_for_user's filter(taisly_id=str(rule_id)[:64]).
    assert response.status_code == 404, f"{method.upper()} {url} → {response.status_code}"


# --- 2. Staff looking in: never a write, on any route ----------------------------------------


def test_staff_looking_in_never_writes_anywhere(populated, staff, login):
    client = login(staff)
    objects = _workspace_objects(populated)
    problems = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as taisly:
        for route in all_routes():
            if not any(name == "code" for _, name in route.params):
                continue
            for url in _urls(route, populated, objects):
                for method in ("get", "post"):
                    with CaptureQueriesContext(db) as queries:
                        response = getattr(client, method)(url)
                    writes = _writes(queries)
                    if writes or response.status_code >= 500:
                        problems.append(
                            f"{method.upper()} {url} ({route.name}) → "
                            f"{response.status_code} {writes}"
                        )
        assert len(taisly.calls) == 0
    assert not problems, "\n".join(problems)


# --- 3. A member of another workspace, with his own workspace's code -------------------------


def test_a_member_elsewhere_reaches_nothing_through_his_own_workspace_code(
    populated, charlie, login
):
    """charlie owns a workspace of his own; with its code in the URL (so every workspace check
    passes, owner ones included) and the objects of alice's workspace after it, every getter
    must still answer 404."""
    own = Workspace.objects.create(name="Charlie's", kind=Workspace.Kind.CLIENT)
    Membership.objects.create(workspace=own, user=charlie, role=Membership.Role.OWNER)
    client = login(charlie)
    objects = _workspace_objects(populated)
    leaks = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as taisly:
        for route in all_routes():
            names = [name for _, name in route.params]
            if "code" not in names or len(names) < 2:
                continue  # only routes that name an object inside the workspace
            for url in _urls(route, populated, objects):
                url = url.replace(str(populated.code), str(own.code), 1)
                for method in ("get", "post"):
                    with CaptureQueriesContext(db) as queries:
                        response = getattr(client, method)(url)
                    if response.status_code not in (404, 405) or _writes(queries):
                        leaks.append(
                            f"{method.upper()} {url} ({route.name}) → {response.status_code}"
                        )
        assert len(taisly.calls) == 0
    assert not leaks, "\n".join(leaks)


# --- 4. The new POST endpoint: CSRF, method, GET writes nothing ------------------------------


def test_post_seen_is_csrf_protected_and_the_page_get_writes_nothing(failed_post, vera):
    client = Client(enforce_csrf_checks=True)
    client.force_login(vera)
    with CaptureQueriesContext(db) as queries:
        page = client.get(_post_url(failed_post))
    assert page.status_code == 200 and not _writes(queries)
    # A cross-site form post (no token): refused, nothing marked.
    assert client.post(_post_url(failed_post, "posting:post_seen")).status_code == 403
    assert (
        client.post(_post_url(failed_post, "posting:post_seen"), HTTP_HX_REQUEST="true").status_code
        == 403
    )
    assert PostResult.objects.filter(status="FAILED", seen_at__isnull=True).count() == 1
    # With the page's token (as htmx sends it from <body hx-headers>): marked.
    token = client.cookies["csrftoken"].value
    shown = list(failed_post.results.filter(status="FAILED").values_list("pk", flat=True))
    response = client.post(
        _post_url(failed_post, "posting:post_seen"),
        {"result": shown},
        HTTP_HX_REQUEST="true",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 204
    assert PostResult.objects.filter(status="FAILED", seen_at__isnull=True).count() == 0


@pytest.mark.parametrize(
    "name", ["post_retry_send", "post_send_again", "post_adopt", "post_give_up", "post_recheck"]
)
def test_the_decisions_refuse_viewers_staff_and_outsiders(
    failed_post, vera, staff, charlie, login, name
):
    url = _post_url(failed_post, f"posting:{name}")
    assert login(charlie).post(url).status_code == 404
    assert login(vera).post(url).status_code == 403
    assert login(staff).post(url).status_code == 403
    assert login(vera).get(url).status_code == 405


def test_huge_and_odd_form_values_on_the_moved_views_are_no_500(populated, alice, bob, login):
    from posting.models import Alert, Post, WebhookEndpoint

    client = Client(raise_request_exception=False)
    client.force_login(alice)
    post = Post.objects.filter(workspace=populated).first()
    alert = Alert.objects.filter(workspace=populated).first()
    endpoint = WebhookEndpoint.objects.filter(workspace=populated).first()
    huge = "x" * 200_000
    odd = "\x00é\u202e<script>" * 10
    cases = [
        (_post_url(post, "posting:post_adopt"), {"taisly_id": huge}),
        (_post_url(post, "posting:post_adopt"), {"taisly_id": "\x00"}),
        (
            reverse(
                "posting:alert_read", kwargs={"code": populated.code, "alert_code": alert.code}
            ),
            {"query": huge},
        ),
        (
            reverse(
                "posting:alert_read", kwargs={"code": populated.code, "alert_code": alert.code}
            ),
            {"query": "a\r\nb"},
        ),
        (reverse("posting:alert_settings", kwargs={"code": populated.code}), {"email": odd}),
        (
            reverse("posting:webhooks", kwargs={"code": populated.code}),
            {"url": "https://" + huge, "format": "json"},
        ),
        (
            reverse("posting:webhooks", kwargs={"code": populated.code}),
            {"url": "https://a\x00b.test/", "format": "json"},
        ),
        (
            reverse("posting:webhooks", kwargs={"code": populated.code}),
            {"url": "https://h.test/", "format": odd, "events": [odd]},
        ),
        (reverse("posting:sync", kwargs={"code": populated.code}), {"next": odd}),
        (
            reverse(
                "posting:webhook_toggle", kwargs={"code": populated.code, "endpoint": endpoint.code}
            ),
            {},
        ),
    ]
    problems = []
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        for url, data in cases:
            response = client.post(url, data)
            if response.status_code >= 500:
                problems.append(f"POST {url} {list(data)} → {response.status_code}")
        for query in ("?page=" + huge, "?kind=" + odd, "?network=\x00", "?unread=" + huge):
            response = client.get(
                reverse("posting:alerts", kwargs={"code": populated.code}) + query
            )
            if response.status_code >= 500:
                problems.append(f"GET alerts{query[:20]} → {response.status_code}")
    assert not problems, "\n".join(problems)


# --- 8. A webhook receiver that answers, then breaks the body: the try escapes its log --------


@pytest.fixture
def bad_receiver():
    """A raw HTTP server answering 200 with a body that claims gzip and is not."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                        b"Content-Length: 10\r\nConnection: close\r\n\r\nnot-gzip!!"
                    )
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    stop.set()
    thread.join(2)
    server.close()


def test_a_broken_response_body_is_one_logged_failed_try(workspace, alice, bad_receiver, settings):
    from django.utils import timezone

    from posting.alerts.webhooks.delivery import deliveries_create, delivery_send
    from posting.alerts.webhooks.endpoints import endpoint_create
    from posting.models import Alert, Platform, Post, WebhookAttempt, WebhookDelivery

    settings.WEBHOOK_MAX_ATTEMPTS = 2
    endpoint_create(workspace=workspace, actor=alice, url=bad_receiver, format="json")
    platform = Platform.objects.create(workspace=workspace, taisly_id="p1", network="TikTok")
    post = Post.objects.create(workspace=workspace, description="Hi", state=Post.State.SENT)
    alert = Alert.objects.create(
        workspace=workspace, post=post, platform=platform, kind="failed", error_code="X"
    )
    (delivery_id,) = deliveries_create([alert])
    escaped = []
    for _ in range(4):  # twice the allowed tries
        WebhookDelivery.objects.filter(pk=delivery_id).update(next_attempt_at=timezone.now())
        try:
            delivery_send(delivery_id=delivery_id)
        except Exception as exc:  # urllib3.exceptions.DecodeError, not a RequestException
            escaped.append(type(exc).__name__)
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert not escaped, (
        f"{escaped}: no WebhookAttempt logged ({WebhookAttempt.objects.count()}), "
        f"attempts={delivery.attempts} > max {settings.WEBHOOK_MAX_ATTEMPTS}, "
        f"state={delivery.state}: deliveries_due re-queues it at every lease's end, forever"
    )


# --- 9. No GET writes, for the members either -------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "vera"])
def test_no_get_writes_for_members(populated, alice, vera, login, who):
    client = login({"alice": alice, "vera": vera}[who])
    objects = _workspace_objects(populated)
    problems = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as taisly:
        for route in all_routes():
            if not any(name == "code" for _, name in route.params):
                continue
            for url in _urls(route, populated, objects):
                for extra in ({}, {"HTTP_HX_REQUEST": "true"}):
                    with CaptureQueriesContext(db) as queries:
                        response = client.get(url, **extra)
                    writes = _writes(queries)
                    if writes or response.status_code >= 500:
                        problems.append(
                            f"GET {url} ({route.name}) → {response.status_code} {writes}"
                        )
        assert len(taisly.calls) == 0
    assert not problems, "\n".join(problems)


# --- 10. The two "Sync now" services take an actor and never check it ------------------------


class _ReachedTaisly(Exception):
    pass


@pytest.mark.parametrize("service", ["platforms_sync", "history_sync"])
def test_the_sync_services_refuse_an_actor_who_may_not_write(workspace, vera, monkeypatch, service):
    """reposts_sync(actor=vera) is refused under lock (RoleRequired) before Taisly is asked;
    sync.platforms_sync / sync.history_sync take ``actor`` and never look at it: a viewer (or
    an editor demoted after the view's get_workspace_for_user_rw) spends the key's quota."""
    from posting.mirror import reposts, sync

    def reached(workspace):
        raise _ReachedTaisly

    monkeypatch.setattr(sync, "taisly_for", reached)
    monkeypatch.setattr(reposts, "taisly_for", reached)
    with pytest.raises(RoleRequired):
        reposts.reposts_sync(workspace=workspace, actor=vera)
    with pytest.raises(RoleRequired):  # fails: _ReachedTaisly
        getattr(sync, service)(workspace=workspace, actor=vera)


# --- 11. Every route, as its owner, with a NUL or a huge value in every field ----------------

FIELDS = [
    "token",
    "platforms",
    "description",
    "when",
    "scheduled_at",
    "cover_second",
    "from_platform",
    "to_platforms",
    "confirm_cycle",
    "taisly_id",
    "query",
    "email",
    "url",
    "format",
    "events",
    "next",
    "api_key",
    "plan",
    "name",
    "role",
    "language",
    "page",
    "kind",
    "network",
    "unread",
    "status",
    "start",
    "end",
    "q",
    "author",
    "month",
    "date",
    "fragment",
    "action",
    "require",
]


@pytest.mark.parametrize("value", ["\x00", "9" * 5000, "2024-13-45T99:99"])
def test_no_route_answers_500_to_odd_values(populated, alice, value):
    from urllib.parse import urlencode

    client = Client(raise_request_exception=False)
    client.force_login(alice)
    objects = _workspace_objects(populated)
    data = {name: value for name in FIELDS}
    data["when"] = "later"
    problems = []
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        for route in all_routes():
            if not any(name == "code" for _, name in route.params):
                continue
            if route.name in ("accounts:workspace_delete", "accounts:workspace_leave"):
                continue
            for url in _urls(route, populated, objects):
                for method in ("get", "post"):
                    if method == "get":
                        response = client.get(url + "?" + urlencode(data))
                    else:
                        response = client.post(url, data)
                    if response.status_code >= 500:
                        problems.append(
                            f"{method.upper()} {url} ({route.name}) → {response.status_code}"
                        )
    assert not problems, "\n".join(problems)
