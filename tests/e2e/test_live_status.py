"""A post's page follows its results by itself (issue 17, "Statuses that update themselves"), with
real processes: the `default` and `uploads` qclusters on the test database, the sandbox over HTTP
publishing five seconds after a post is due (as `make run` does), and Chromium on the live server.

The page reads only the mirror; the uploads cluster sends the video and starts the results watch
(posting.mirror.background.results_watch), which reads Taisly's history when the results are due.
Nothing here sleeps or reloads: the browser waits for the rows to change.

The second test measures the time from the sandbox settling a post (its due time + publish
seconds, on the sandbox's clock, which is real time here) to the open page showing the result,
for a PRO key and a STARTER key, and writes the figures to test-results/live_status.json.
"""

from __future__ import annotations

import json
import math
import os
import re
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse
from django_q.conf import Conf
from playwright.sync_api import Page, expect

from accounts.models import TaislyConnection
from posting.connection import keys
from posting.models import Platform, Post, TaislyRequest
from tests.e2e.test_keys import csp_violations, log_in  # noqa: F401 (fixture)
from tests.integration.test_cluster_processes import Cluster
from tests.polling import wait_until
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_url, sandbox_posts
from tests.sandbox_server import SandboxServer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres_only,
    pytest.mark.django_db(transaction=True),
]

PUBLISH_SECONDS = 5
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def live_sandbox(tmp_path):
    with SandboxServer(tmp_path / "sandbox", publish_seconds=PUBLISH_SECONDS) as server:
        yield server


@pytest.fixture
def clusters(settings, media, live_sandbox, tmp_path, monkeypatch):
    """Both clusters, on this test's database; the live server queues into them (django-q2 runs
    tasks inline under pytest otherwise)."""
    settings.TAISLY_BASE_URL = live_sandbox.base_url
    monkeypatch.setattr(Conf, "SYNC", False)
    url = os.environ.get("DATABASE_URL", "")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_ENV"))},
        "DJANGO_SETTINGS_MODULE": "taisly_dash.settings",
        "DJANGO_ENV": "development",
        "DATABASE_URL": url.rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"],
        "SANDBOX_DATABASE_URL": f"sqlite:///{tmp_path / 'unused-sandbox.sqlite3'}",
        "TAISLY_BASE_URL": live_sandbox.base_url,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "FILE_UPLOAD_TEMP_DIR": str(settings.FILE_UPLOAD_TEMP_DIR),
        "PYTHONUNBUFFERED": "1",
        # One worker each: the watch must not need a second one to get its reads done.
        "Q_WORKERS": "1",
        "Q_UPLOAD_WORKERS": "1",
        "SYNC_WATCH_SECONDS": "60",
    }
    started = [
        Cluster(env, name, tmp_path / f"qcluster-{name}.log") for name in ("default", "uploads")
    ]
    yield started
    for cluster in started:
        cluster.stop()


def connect(workspace, owner, sandbox, plan: str) -> dict:
    account = sandbox.create_account(plan=plan)
    keys.connection_connect(workspace=workspace, api_key=account["api_key"], plan=None, actor=owner)
    for item in account["platforms"]:
        Platform.objects.get_or_create(
            workspace=workspace,
            taisly_id=item["_id"],
            defaults={"network": item["platform"], "name": item["name"] or ""},
        )
    return account


# The page records, in its own clock, when every platform row has left PENDING.
WATCH_ROWS = """() => {
  window.pageLoads = (window.pageLoads || 0) + 1;
  const check = () => {
    const rows = [...document.querySelectorAll("[data-testid=result]")];
    if (!window.settledAt && rows.length &&
        rows.every((row) => row.dataset.status !== "PENDING")) window.settledAt = Date.now();
  };
  new MutationObserver(check).observe(document.body, {childList: true, subtree: true});
  check();
}"""


def test_a_posts_page_turns_to_success_and_failed_by_itself(
    page: Page,
    live_server,
    alice,
    bob,
    workspace,
    live_sandbox,
    clusters,
    video_file,
    screenshot_dir,
    csp_violations,  # noqa: F811
):
    account = connect(workspace, alice, live_sandbox, "PRO")
    log_in(page, live_server, bob)
    page.goto(live_server.url + compose_url(workspace))
    expect(page).to_have_title(re.compile("^New post"))
    page.get_by_role("checkbox", name="TikTok").check()
    page.get_by_role("checkbox", name="Instagram").check()
    page.get_by_label("Description").fill("Kopi live #fail:Instagram")
    page.get_by_label("Video", exact=True).set_input_files(video_file("live.webm", seconds=4))
    expect(page.locator("[data-cover-slider]")).to_be_visible()
    page.get_by_test_id("compose-submit").click()

    # The page becomes the post's page: its address, title and breadcrumb.
    expect(page).to_have_url(re.compile(r"/posts/[0-9a-f-]{36}/$"))
    expect(page).to_have_title(re.compile("^Kopi live #fail:Instagram · Acme"))
    expect(page.get_by_test_id("breadcrumb")).to_contain_text("All posts")
    page.evaluate("window.stayed = true")  # gone if the page reloads
    live = page.get_by_test_id("post-live")
    expect(live).to_have_attribute("data-settled", "false")
    page.screenshot(path=f"{screenshot_dir}/live_status_in_flight.png", full_page=True)

    # The uploads cluster sends it; the default cluster reads history when results are due;
    # the page shows each network's result without being reloaded.
    tiktok = page.locator("[data-testid=result][data-network=TikTok]")
    instagram = page.locator("[data-testid=result][data-network=Instagram]")
    expect(tiktok).to_have_attribute("data-status", "SUCCESS", timeout=90_000)
    expect(instagram).to_have_attribute("data-status", "FAILED", timeout=30_000)
    expect(instagram.get_by_test_id("result-code")).to_have_text("SANDBOX_FORCED_FAILURE")
    expect(page.get_by_test_id("post-summary")).to_have_text("1 of 2 posted")
    # Settled: the page stops asking, and offers what can be done now.
    expect(live).to_have_attribute("data-settled", "true")
    expect(live).not_to_have_attribute("hx-get", re.compile("."))
    expect(page.get_by_test_id("retry-failed")).to_be_visible()
    assert page.evaluate("window.stayed") is True
    post = Post.objects.get()
    assert post.state == Post.State.SENT and post.taisly_id
    assert [p["id"] for p in sandbox_posts(live_sandbox, account["api_key"])] == [post.taisly_id]
    page.screenshot(path=f"{screenshot_dir}/live_status_settled_1280.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 900})
    page.screenshot(path=f"{screenshot_dir}/live_status_settled_390.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    assert csp_violations == []


def send(page: Page, live_server, workspace, description: str, video: Path) -> str:
    """Post through the compose form's own endpoint (as the form does); the post page's URL."""
    token = page.context.cookies()
    csrf = next(c["value"] for c in token if c["name"] == "csrftoken")
    tiktok = Platform.objects.get(workspace=workspace, network="TikTok").taisly_id
    response = page.request.post(
        live_server.url + compose_url(workspace),
        headers={"X-CSRFToken": csrf, "Referer": live_server.url},
        multipart={
            "token": str(uuid.uuid4()),
            "platforms": tiktok,
            "description": description,
            "when": "now",
            "cover_second": "1",
            "video": {"name": "m.webm", "mimeType": "video/webm", "buffer": video.read_bytes()},
        },
        max_redirects=0,
    )
    assert response.status == 302, response.text()[:500]
    return live_server.url + response.headers["location"]


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@pytest.mark.parametrize(
    ("plan", "posts", "spread", "goal"), [("PRO", 8, 60, 30.0), ("STARTER", 4, 60, 60.0)]
)
def test_the_open_page_shows_a_result_soon_after_taisly_settles_it(
    page: Page,
    live_server,
    alice,
    bob,
    workspace,
    live_sandbox,
    clusters,
    video_file,
    plan,
    posts,
    spread,
    goal,
):
    """From the sandbox settling a post to its open page showing it: p95 within ``goal``
    seconds (PRO: the issue's 30 s; STARTER: its budget allows a read 20 s after a send, then
    backing off), and the background reads within the plan's share of the hour."""
    account = connect(workspace, alice, live_sandbox, plan)
    log_in(page, live_server, bob)
    video = video_file("measure.webm", seconds=3)
    tabs = []
    # Taisly settles each post at a different moment (the sandbox's #slow:<s>), so the results
    # fall at every point of the reads' cycle, not just 5 s after the send.
    slow = [round(n * spread / posts) for n in range(posts)]
    for n in range(posts):
        url = send(page, live_server, workspace, f"measure {plan} {n} #slow:{slow[n]}", video)
        tab = page.context.new_page()
        tab.goto(url)
        tab.evaluate(WATCH_ROWS)
        tabs.append(tab)
        # The next send once this one has reached Taisly: sends spread over the reads' cycle.
        wait_until(
            lambda n=n: Post.objects.filter(state=Post.State.SENT).count() > n,
            what="the post sent by the uploads cluster",
            timeout=60,
            every=0.2,
        )
    for tab in tabs:
        # (Polled from here: the CSP forbids wait_for_function's string evaluation.)
        wait_until(
            lambda tab=tab: tab.evaluate("() => window.settledAt || 0"),
            what="the page to show every result",
            timeout=120,
            every=0.5,
        )
        assert tab.evaluate("() => window.pageLoads") == 1  # never reloaded
    shown = [tab.evaluate("() => window.settledAt") / 1000 for tab in tabs]
    made = {p["description"]: p for p in sandbox_posts(live_sandbox, account["api_key"])}
    latencies = []
    for n, at in enumerate(shown):
        entry = made[f"measure {plan} {n} #slow:{slow[n]}"]
        due = datetime.fromisoformat(
            (entry.get("date") or entry["createdAt"]).replace("Z", "+00:00")
        )
        latencies.append(round(at - (due.timestamp() + PUBLISH_SECONDS + slow[n]), 1))
    background = TaislyRequest.objects.filter(kind=TaislyRequest.Kind.BACKGROUND).count()
    connection = TaislyConnection.objects.get(workspace=workspace)
    assert connection.plan == plan
    limit = connection.hourly_limit
    figures = {
        "plan": plan,
        "settled_after_send_s": [PUBLISH_SECONDS + s for s in slow],
        "latencies_s": latencies,
        "p95_s": p95(latencies),
        "background_requests": background,
        "background_share_of_hour": round(background / limit, 3),
    }
    out = ROOT / "test-results"
    out.mkdir(exist_ok=True)
    with open(out / "live_status.json", "a") as fh:
        fh.write(json.dumps(figures) + "\n")
    print(figures)
    assert figures["p95_s"] <= goal, figures
    assert background <= math.floor(limit * 0.5), figures  # SYNC_BUDGET_FRACTION's share
    assert reverse("posting:compose", kwargs={"code": workspace.code})  # the workspace's own
