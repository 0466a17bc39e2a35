"""Walk every URL pattern of the project as an outsider (and every write as a viewer).

Nobody has to remember to add a new view here: the patterns come from the resolver, and every
parameter is filled with the workspace's code or with the code (or id) of each object that
belongs to the workspace, found through the models themselves. Outsiders must get 404 (or 405
for a method the view never takes): never a 2xx, never a redirect, never a 403 (which would
confirm that the workspace exists). Taisly must never be called on their behalf.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import responses
from django.apps import apps
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts.models import Invitation, Membership, TaislyConnection, Workspace
from posting.connection import keys
from posting.models import (
    Alert,
    Comment,
    Draft,
    DraftVersion,
    Platform,
    Post,
    PostResult,
    RepostRule,
    ReviewLink,
    WebhookDelivery,
    WebhookEndpoint,
)
from posting.reviewlinks import links as review_links

# Namespaces not walked, and why.
SKIPPED_NAMESPACES = {
    # Django's admin: staff only, it sends everyone else to its own login page (checked below).
    "admin",
}

# URLconfs not walked, and why.
SKIPPED_URLCONFS = {
    # django-allauth's own pages (log-in, sign-up, email, password, two-factor): each about the
    # signed-in person only, with no workspace in them; its keys and tokens are credentials.
    "allauth.urls": "django-allauth",
}

# Named routes without a workspace in them that any logged-in person may use, and why.
PER_USER_ROUTES = {
    "home": "the user's own workspace list",
    "healthz": "load balancer probe, reveals no workspace",
    "readyz": "readiness probe: database, migrations, cache table, clusters; no workspace",
    "metrics": "Prometheus: only with the METRICS_TOKEN bearer token (a session is no help)",
    "account_login": "logging in (allauth's view, our template)",
    "account_signup": "redirects a logged-in user home",
    "account_change_password": "the user's own password",
    "account_reset_password": "asks for an email address",
    # The key is the credential; a made-up one gets "expired or invalid", nothing of a workspace.
    "account_confirm_email": "an email verification link, not a workspace",
    "set_language": "Django's language switch",
    "accounts:language": "the language switch, stored on the user's own profile",
    "accounts:profile": "the user's own profile",
    "accounts:email_verification_resend": "sends the user's own verification link again",
    "accounts:account_delete": "the user's own account, behind their password",
    "accounts:workspace_create": "creates the user's own workspace",
    "alerts_everywhere": "the user's own unread counts, of their own workspaces only",
    "failure_inbox": "failed posts of the user's own workspaces only",
    "calendar_everywhere": "the user's own calendar, of their own workspaces only",
    "calendar_everywhere_week": "the user's own calendar, of their own workspaces only",
    "reviews_everywhere": "posts waiting for the user's own review, in their own workspaces only",
    # Shows only the review link held in the session (none: "this link does not work").
    "review:page": "a review link's page: the drafts of the link in the session, nothing else",
}

# Routes a review link's holder (no account) uses, and why an outsider's walk passes them by.
LINK_ROUTES = {
    # Always a redirect to review:page (so the token never sits in a logged error line); the
    # page then says the made-up token does not work. Checked in test_a_link_holder_*.
    "review:enter": "the emailed link: moves the token into the session, then redirects",
}

# What a viewer may still POST in a workspace they can read (everything else needs write).
VIEWER_MAY_POST = {
    "accounts:workspace_leave": "anyone may leave a workspace",
    "posting:alert_read": "each member marks alerts read for themselves",
    "posting:alerts_read_all": "each member marks alerts read for themselves",
    "posting:alert_settings": "each member chooses their own alert emails",
    "posting:post_seen": "a member's look at the post page marks its failures seen",
    "posting:draft_comment": "every member comments on a draft (a client viewer too)",
    "posting:draft_watch": "each member watches a draft they see for themselves (a viewer too)",
}

PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


@dataclass(frozen=True)
class Route:
    name: str
    route: str  # "w/<uuid:code>/members/"
    params: tuple[tuple[str, str], ...]  # (converter, name)

    @property
    def namespace(self) -> str:
        return self.name.split(":")[0] if ":" in self.name else ""


def _walk(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = entry.namespace or ""
            full = f"{namespace}:{inner}" if namespace and inner else (inner or namespace)
            if (inner or namespace) in SKIPPED_NAMESPACES:
                continue
            if getattr(entry.urlconf_module, "__name__", "") in SKIPPED_URLCONFS:
                continue
            yield from _walk(entry, prefix + str(entry.pattern), full)
        elif isinstance(entry, URLPattern):
            route = prefix + str(entry.pattern)
            name = entry.name or entry.lookup_str
            full = f"{namespace}:{name}" if namespace and entry.name else name
            assert "(?P" not in route and "^" not in route, (
                f"{full}: a regex route; use path() so this walk can fill it"
            )
            params = tuple((m["converter"] or "str", m["name"]) for m in PARAM.finditer(route))
            yield Route(full, route, params)


def all_routes() -> list[Route]:
    return list(_walk(get_resolver()))


def _workspace_objects(workspace: Workspace) -> list[models.Model]:
    """Every row that belongs to the workspace: directly (a ``workspace`` key) or one step away
    (a key to something with a ``workspace`` key), from every installed app."""
    found: list[models.Model] = []
    for model in apps.get_models():
        field_names = {f.name for f in model._meta.get_fields()}
        if "workspace" in field_names and model is not Workspace:
            found.extend(model.objects.filter(workspace=workspace))
            continue
        for f in model._meta.get_fields():
            if (
                isinstance(f, models.ForeignKey)
                and f.related_model is not Workspace
                and "workspace" in {g.name for g in f.related_model._meta.get_fields()}
            ):
                found.extend(model.objects.filter(**{f"{f.name}__workspace": workspace}))
                break
    return found


def _candidates(converter: str, name: str, workspace: Workspace, objects) -> list[str]:
    if converter == "uuid":
        codes = [str(o.code) for o in objects if isinstance(getattr(o, "code", None), uuid.UUID)]
        if name == "code":
            # Usually the workspace; but a view may address its own object as `code` too.
            return [str(workspace.code), *codes]
        return [*codes, str(uuid.uuid4())]
    if converter == "int":
        return sorted({str(o.pk) for o in objects}) or ["1"]
    if name == "rule_id":
        # Repost rules are addressed by their Taisly id (the mirror has no code of its own).
        return [o.taisly_id for o in objects if isinstance(o, RepostRule)] + ["0" * 24]
    # str, slug, path: tokens are credentials; a made-up one must reveal nothing.
    return ["not-a-real-token-0123456789"]


def _urls(route: Route, workspace: Workspace, objects) -> list[str]:
    urls = ["/" + route.route]
    for converter, name in route.params:
        values = _candidates(converter, name, workspace, objects)
        pattern = f"<{converter}:{name}>" if f"<{converter}:{name}>" in route.route else f"<{name}>"
        urls = [u.replace(pattern, v, 1) for u in urls for v in values]
    return urls


@pytest.fixture
def populated(workspace, alice, bob, vera):
    """The workspace with members, a pending invitation and a stored Taisly key, so object codes
    exist to try, and a view that let an outsider through would have a key to call Taisly with."""
    keys.connection_store(
        workspace=workspace,
        api_key="taisly_" + secrets.token_hex(32),
        plan=TaislyConnection.Plan.STARTER,
        actor=alice,
        verified=True,
    )
    Invitation.objects.create(
        workspace=workspace,
        email="pending@example.test",
        role=Membership.Role.VIEWER,
        token_hash="1" * 64,
        invited_by=alice,
        expires_at=timezone.now() + timedelta(days=7),
    )
    # A post with a result on a platform, so post pages are walked with a real post code.
    platform = Platform.objects.create(workspace=workspace, taisly_id="walk-1", network="TikTok")
    post = Post.objects.create(
        workspace=workspace,
        taisly_id="walk-post",
        scheduled_at=timezone.now() + timedelta(days=1),
        due_at=timezone.now() + timedelta(days=1),
    )
    PostResult.objects.create(post=post, platform=platform)
    # A repost rule, so rule actions are walked with a real rule id.
    x = Platform.objects.create(workspace=workspace, taisly_id="walk-2", network="X")
    RepostRule.objects.create(
        workspace=workspace, taisly_id="walk-rule", from_platform=platform
    ).to_platforms.set([x])
    # An alert, a webhook endpoint and a delivery, so alert and webhook pages get real codes.
    alert = Alert.objects.create(workspace=workspace, post=post, platform=platform, kind="failed")
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace, url="https://hooks.example.test/x", format="json", secret="whsec_x"
    )
    WebhookDelivery.objects.create(endpoint=endpoint, alert=alert, event="alert.failed")
    # A draft in review at the client stage, with a version, a comment and a review link
    # (token LINK_TOKEN): the review pages get real codes.
    draft = Draft.objects.create(
        workspace=workspace,
        author=bob,
        description="Walk draft",
        review_state="in_review",
        review_stage="client",
    )
    DraftVersion.record(draft, bob, [platform])
    Comment.objects.create(draft=draft, author=alice, body="Walk comment", internal=True)
    link = ReviewLink.objects.create(
        workspace=workspace,
        address="client@example.test",
        token_hash=review_links.token_hash(LINK_TOKEN),
        language="en",
        created_by=bob,
        expires_at=timezone.now() + timedelta(days=7),
    )
    link.drafts.set([draft])
    return workspace


LINK_TOKEN = "walk-link-token-0123456789abcdefghijklmnopq"


def test_the_walk_finds_the_workspace_routes():
    names = {r.name for r in all_routes()}
    assert {"accounts:members", "accounts:member_role", "oversight:index"} <= names
    assert {"posting:history", "posting:post", "posting:post_cancel", "posting:calendar"} <= names
    assert {"posting:reposts", "posting:repost_pause", "posting:repost_delete"} <= names


def test_an_outsider_gets_nothing_from_any_url(populated, charlie, login):
    client = login(charlie)
    objects = _workspace_objects(populated)
    assert any(isinstance(o, Membership) for o in objects)
    walked, leaks = 0, []
    # No Taisly call may happen on an outsider's behalf: any outgoing request would fail here.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as taisly:
        for route in all_routes():
            if not route.params and route.namespace != "oversight":
                assert route.name in PER_USER_ROUTES, (
                    f"{route.name} ({route.route}) takes no workspace code: add it to "
                    "PER_USER_ROUTES with a reason if any logged-in person may use it"
                )
                continue
            if route.name in PER_USER_ROUTES or route.name in LINK_ROUTES:
                continue
            for url in _urls(route, populated, objects):
                for method in ("get", "post"):
                    walked += 1
                    response = getattr(client, method)(url)
                    if response.status_code not in (404, 405):
                        leaks.append(
                            f"{method.upper()} {url} ({route.name}) → {response.status_code}"
                        )
        assert len(taisly.calls) == 0
    assert not leaks, "\n".join(leaks)
    assert walked > 20


def test_a_viewer_cannot_write_anywhere(populated, vera, login):
    """Every POST in the workspace answers a viewer with 403 (or 404/405), unless listed."""
    client = login(vera)
    objects = _workspace_objects(populated)
    problems = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as taisly:
        for route in all_routes():
            if not any(name == "code" for _, name in route.params):
                continue
            if route.name in VIEWER_MAY_POST:
                continue
            for url in _urls(route, populated, objects):
                response = client.post(url)
                if response.status_code not in (403, 404, 405):
                    problems.append(f"POST {url} ({route.name}) → {response.status_code}")
        assert len(taisly.calls) == 0
    assert not problems, "\n".join(problems)


def test_a_client_reviewer_writes_nothing_but_decisions(populated, vera, login):
    """A viewer with the reviewer right may post a decision (approvals); every other POST
    answers 403 (or 404/405) as for any viewer."""
    Membership.objects.filter(user=vera, workspace=populated).update(can_approve=True)
    client = login(vera)
    objects = _workspace_objects(populated)
    problems, decided = [], 0
    with responses.RequestsMock(assert_all_requests_are_fired=False) as taisly:
        for route in all_routes():
            if not any(name == "code" for _, name in route.params):
                continue
            if route.name in VIEWER_MAY_POST:  # leaving the workspace would end the walk
                continue
            for url in _urls(route, populated, objects):
                response = client.post(url)
                if route.name == "posting:draft_decide":
                    decided += response.status_code == 302
                elif response.status_code not in (403, 404, 405):
                    problems.append(f"POST {url} ({route.name}) → {response.status_code}")
        assert len(taisly.calls) == 0
    assert not problems, "\n".join(problems)
    assert decided == 1  # the real draft's decision form answered (an empty form: its message)
    # Their review page and the draft page open; the queue marks the draft as theirs.
    draft = Draft.objects.get(workspace=populated)
    page = client.get(f"/w/{populated.code}/reviews/").content.decode()
    assert 'data-testid="review-yours"' in page
    assert client.get(f"/w/{populated.code}/drafts/{draft.code}/").status_code == 200


def test_staff_pages_are_a_404_for_everyone_else(alice, login):
    client = login(alice)  # owns a workspace, but is not staff
    for route in all_routes():
        if route.namespace == "oversight" and not route.params:
            assert client.get("/" + route.route).status_code == 404


def test_the_admin_sends_non_staff_to_its_login(charlie, login):
    response = login(charlie).get("/admin/accounts/membership/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def _walk_for_others(client, populated, *, allowed) -> list[str]:
    """Every workspace and staff route with ``client``: the answers ``allowed`` does not accept."""
    objects = _workspace_objects(populated)
    problems = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as taisly:
        for route in all_routes():
            if route.name in PER_USER_ROUTES or route.namespace == "review":
                continue
            if not route.params and route.namespace != "oversight":
                continue
            for url in _urls(route, populated, objects):
                for method in ("get", "post"):
                    response = getattr(client, method)(url)
                    if not allowed(response):
                        problems.append(
                            f"{method.upper()} {url} ({route.name}) → {response.status_code}"
                        )
        assert len(taisly.calls) == 0
    return problems


def _to_login_or_refused(response) -> bool:
    if response.status_code == 302:
        return response["Location"].startswith(reverse("account_login"))
    return response.status_code in (403, 404, 405)


def test_a_link_holder_reaches_only_the_links_drafts(populated):
    """A review link's holder (no account) gets the link's page and the link's draft's video
    only: every other page sends them to log in, or answers 403/404/405."""
    client = Client()
    entered = client.get(reverse("review:enter", args=[LINK_TOKEN]))
    assert entered.status_code == 302 and entered["Location"] == reverse("review:page")
    page = client.get(reverse("review:page"))
    assert page.status_code == 200 and b"Walk draft" in page.content
    assert b"Walk comment" not in page.content  # internal
    problems = _walk_for_others(client, populated, allowed=_to_login_or_refused)
    assert not problems, "\n".join(problems)
    # The review routes with another draft's code (or none of ours): 404.
    assert client.get(reverse("review:video", args=[uuid.uuid4()])).status_code == 404
    for name in ("review:decide", "review:comment"):
        response = client.post(reverse(name, args=[uuid.uuid4()]))
        assert response.status_code == 404, name


def test_a_made_up_link_shows_nothing(populated):
    client = Client()
    assert client.get(reverse("review:enter", args=["not-a-real-token"])).status_code == 302
    page = client.get(reverse("review:page"))
    assert page.status_code == 404 and b"Walk draft" not in page.content
