"""Every page reachable from posting, clicked through as an owner, an editor and a viewer, at
1280 and 390 px, in English and in Bahasa Indonesia: each link shown answers (no 4xx or 5xx: a
viewer is never shown a link that refuses them), no page scrolls sideways, and the Indonesian
pages keep no English posting label. Screenshots go to test-results/screenshots/walk-*.png.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page

from posting.models import Post, RepostRule
from tests.posting.factories import make_platforms, make_post

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

#: Posting paths under /w/<code>/ a walk follows (the rest of the workspace has its own walks).
POSTING = r"^/w/{code}/(|posts/.*|calendar/.*|accounts/|reposts/)$"
#: English labels that must not appear on a page shown in Bahasa Indonesia.
ENGLISH = ("New post", "All posts", "Sync now", "Calendar", "Posted", "Failed", "Scheduled for")


def _log_in(page: Page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


@pytest.fixture
def posting_workspace(workspace, alice):
    platforms = make_platforms(workspace)
    now = timezone.now()
    make_post(
        workspace,
        platforms,
        {"TikTok": "FAILED:DESCRIPTION_TOO_LONG", "Instagram": "SUCCESS"},
        author=alice,
        description="Kopi pagi " * 12,
        taisly_id="walk1",
    )
    make_post(
        workspace,
        platforms,
        {"YouTube": "PENDING"},
        author=alice,
        description="Scheduled",
        scheduled_at=now + timedelta(days=1),
        due_at=now + timedelta(days=1),
        taisly_id="walk2",
    )
    sending = Post.objects.create(
        workspace=workspace,
        author=alice,
        state=Post.State.SENDING,
        description="Still uploading",
        video_name="clip.mp4",
        video_size=1000,
        progress_bytes=10,
        progress_total=100,
    )
    sending.target_platforms.add(platforms["TikTok"])
    rule = RepostRule.objects.create(
        workspace=workspace, taisly_id="rule1", from_platform=platforms["TikTok"]
    )
    rule.to_platforms.add(platforms["X"])
    return workspace


def _walk(page: Page, live_server, workspace) -> dict[str, int]:
    """Breadth-first over the workspace's posting links shown, from its overview: path → status."""
    posting = re.compile(POSTING.format(code=workspace.code))
    seen: dict[str, int] = {}
    queue = [f"/w/{workspace.code}/"]
    while queue and len(seen) < 40:
        path = queue.pop(0)
        if path in seen:
            continue
        response = page.goto(live_server.url + path)
        seen[path] = response.status
        if response.status >= 400:
            continue
        for href in page.eval_on_selector_all(
            "a[href]", "els => els.map(e => e.getAttribute('href'))"
        ):
            href = href.split("#")[0].split("?")[0]
            if href.startswith(live_server.url):
                href = href[len(live_server.url) :]
            if posting.match(href) and href not in seen:
                queue.append(href)
    return seen


@pytest.mark.parametrize("language", ["en", "id"])
@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("persona", ["alice", "bob", "vera"])
def test_every_posting_page_answers_and_fits(
    page: Page, live_server, posting_workspace, request, persona, width, language, screenshot_dir
):
    user = request.getfixturevalue(persona)
    type(user).objects.filter(pk=user.pk).update(language=language)
    _log_in(page, live_server, user)
    page.set_viewport_size({"width": width, "height": 900})
    seen = _walk(page, live_server, posting_workspace)

    assert {p: s for p, s in seen.items() if s >= 400} == {}
    kinds = {re.sub(r"[0-9a-f-]{36}", "<id>", p) for p in seen}
    for expected in (
        "/w/<id>/posts/",
        "/w/<id>/calendar/",
        "/w/<id>/accounts/",
        "/w/<id>/reposts/",
        "/w/<id>/posts/<id>/",
    ):
        assert expected in kinds, kinds
    assert ("/w/<id>/posts/new/" in kinds) == (persona != "vera"), (persona, seen)

    wide, english, leaks = [], [], []
    for path in seen:
        page.goto(live_server.url + path)
        if page.evaluate("document.documentElement.scrollWidth - window.innerWidth") > 0:
            wide.append(path)
        text = page.locator("body").inner_text()
        if re.search(r"\{[#%]|[#%]\}|\bNone\b", text):
            leaks.append(path)  # template syntax or a missing value shown as text
        if language == "id":
            english += [(path, word) for word in ENGLISH if re.search(rf"\b{word}\b", text)]
        name = re.sub(r"[0-9a-f-]{36}", lambda m: m.group()[:8], path)
        name = name.strip("/").replace("/", "-") or "home"
        page.screenshot(
            path=f"{screenshot_dir}/walk-{persona}-{language}-{width}-{name}.png", full_page=True
        )
    assert wide == []
    assert english == []
    assert leaks == []
