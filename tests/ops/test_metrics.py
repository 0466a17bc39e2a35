"""/metrics: Prometheus's scrape, answered only with METRICS_TOKEN, with the families and values
that real actions (requests, an upload queued, a sync, a 429, an alert, a failing webhook) leave
behind, in a fixed number of queries whatever the number of rows."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import Membership, TaislyConnection, Workspace
from posting.mirror import sync
from posting.models import Alert, MirrorState, Post, TaislyRequest, WebhookAttempt
from posting.taisly.gateway import TaislyActionError
from tests.posting.sandbox_posts import *  # noqa: F403
from tests.posting.upload_fixtures import *  # noqa: F403
from tests.posting.upload_fixtures import compose_data, compose_url
from tests.posting.webhook_receiver import *  # noqa: F403

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-" + "x" * 40


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def read() -> dict[tuple[str, tuple], float]:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200, response.content[:500]
        assert response["Content-Type"].startswith("text/plain; version=")
        samples = {}
        for family in text_string_to_metric_families(response.content.decode()):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    return read


def value(samples: dict, name: str, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_it_is_not_there_without_a_token_set(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN],
)
def test_it_refuses_a_missing_or_wrong_token(client, settings, authorization):
    settings.METRICS_TOKEN = TOKEN
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = client.get("/metrics", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"taisly_dash_" not in response.content


def test_it_answers_get_only(client, settings):
    settings.METRICS_TOKEN = TOKEN
    response = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 405


def test_requests_are_counted_by_view_name_not_path(scrape, client, workspace, alice, login):
    before = scrape()
    for _ in range(3):
        assert client.get(reverse("healthz")).status_code == 200
    login(alice).get(reverse("accounts:workspace", kwargs={"code": workspace.code}))
    client.get("/no/such/page/")
    after = scrape()

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert delta("taisly_dash_http_requests_total", view="healthz", method="GET", status="200") == 3
    assert (
        delta("taisly_dash_http_request_duration_seconds_count", view="healthz", method="GET") == 3
    )
    assert (
        delta("taisly_dash_http_requests_total", view="unmatched", method="GET", status="404") == 1
    )
    workspace_views = [
        labels
        for (name, labels), _ in after.items()
        if name == "taisly_dash_http_requests_total" and ("view", "accounts:workspace") in labels
    ]
    assert workspace_views, sorted({dict(labels).get("view") for (_, labels) in after})
    assert not any(str(workspace.code) in str(labels) for (_, labels) in after)


@pytest.mark.postgres_only
def test_families_and_values_after_real_actions(
    scrape,
    settings,
    workspace,
    alice,
    bob,
    login,
    connected_ws,
    video_file,
    sandbox,
    sandbox_api,
    test_video,
    receiver,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    connection = TaislyConnection.objects.get(workspace=workspace)
    empty = scrape()
    assert value(empty, "taisly_dash_queue_depth", cluster="default") == 0
    assert value(empty, "taisly_dash_queue_depth", cluster="uploads") == 0
    assert value(empty, "taisly_dash_uploads_in_flight", state="queued") == 0
    assert value(empty, "taisly_dash_alerts_raised_last_hour", kind="failed") == 0
    assert value(empty, "taisly_dash_webhook_failures_last_hour") == 0

    # An upload, queued for the uploads cluster (tests otherwise run tasks inline).
    monkeypatch.setattr(Conf, "SYNC", False)
    payload = compose_data(workspace, description="queued for the metrics")
    with open(video_file(), "rb") as fh, django_capture_on_commit_callbacks(execute=True):
        payload["video"] = fh
        assert login(bob).post(compose_url(workspace), payload).status_code == 302
    monkeypatch.setattr(Conf, "SYNC", True)
    queued = scrape()
    assert value(queued, "taisly_dash_queue_depth", cluster="uploads") == 1
    assert value(queued, "taisly_dash_uploads_in_flight", state="queued") == 1
    assert value(queued, "taisly_dash_uploads_in_flight", state="sending") == 0
    Post.objects.update(state=Post.State.SENT)

    # A webhook that answers 500, then a post that fails on TikTok: one alert, one failed try.
    owner = login(alice)
    hooks = reverse("posting:webhooks", kwargs={"code": workspace.code})
    owner.post(hooks, {"url": receiver.url(), "format": "json", "events": ["failed"]})
    receiver.script = [500]
    tiktok = next(p["_id"] for p in connected_ws["platforms"] if p["platform"] == "TikTok")
    sandbox_api.create_post(test_video, [tiktok], description="Launch #fail:TikTok")
    sandbox.advance(5)
    with django_capture_on_commit_callbacks(execute=True):
        sync.history_sync(workspace=workspace)
    assert Alert.objects.filter(kind="failed").count() == 1
    failed_tries = WebhookAttempt.objects.filter(ok=False).count()
    assert failed_tries == 1 and len(receiver.received) == 1

    # Then Taisly answers 429.
    sandbox.fault("429", retryAfter=120)
    with pytest.raises(TaislyActionError):
        sync.history_sync(workspace=workspace)

    synced_at = MirrorState.objects.get(workspace=workspace).history_synced_at
    with time_machine.travel(synced_at + timedelta(seconds=120), tick=False):
        samples = scrape()
    labels = {
        "connection": str(connection.pk),
        "workspace": str(workspace.code),
        "hint": connection.key_hint,
    }
    ledger = TaislyRequest.objects.filter(connection=connection)
    assert ledger.count() >= 3
    assert value(samples, "taisly_dash_taisly_requests_last_hour", **labels) == ledger.count()
    assert value(samples, "taisly_dash_taisly_rate_limited_last_hour", **labels) == 1
    assert value(samples, "taisly_dash_taisly_hourly_limit", **labels) == connection.hourly_limit
    assert value(samples, "taisly_dash_alerts_raised_last_hour", kind="failed") == 1
    assert value(samples, "taisly_dash_alerts_raised_last_hour", kind="stuck") == 0
    assert value(samples, "taisly_dash_webhook_failures_last_hour") == 1
    assert value(samples, "taisly_dash_webhook_endpoints_failing") == 1
    assert value(samples, "taisly_dash_sync_lag_seconds", workspace=str(workspace.code)) == 120
    assert value(samples, "taisly_dash_queue_depth", cluster="uploads") == 1

    # Counted over the last hour: two hours on, only the lag has grown.
    with time_machine.travel(synced_at + timedelta(hours=2), tick=False):
        later = scrape()
    assert value(later, "taisly_dash_taisly_requests_last_hour", **labels) == 0
    assert value(later, "taisly_dash_alerts_raised_last_hour", kind="failed") == 0
    assert value(later, "taisly_dash_webhook_failures_last_hour") == 0
    assert value(later, "taisly_dash_sync_lag_seconds", workspace=str(workspace.code)) == 7200

    # The key itself is in no label (its hint is).
    assert connected_ws["api_key"][7:] not in str(samples)


def _workspaces_with_figures(count: int, owner) -> None:
    """``count`` workspaces, each with a key, ledger rows, a queued post and an alert."""
    now = timezone.now()
    for n in range(count):
        ws = Workspace.objects.create(name=f"Client {n}", kind=Workspace.Kind.CLIENT)
        Membership.objects.create(workspace=ws, user=owner, role=Membership.Role.OWNER)
        connection = TaislyConnection.objects.create(
            workspace=ws, key_hint=f"taisly_…{n:04d}", key_fingerprint=f"fp{n}"
        )
        MirrorState.objects.create(workspace=ws, history_synced_at=now - timedelta(minutes=n))
        for status in (200, 429):
            TaislyRequest.objects.create(connection=connection, endpoint="history", status=status)
        Alert.objects.create(workspace=ws, kind=Alert.Kind.CONNECTION_INVALID)


@pytest.mark.parametrize("workspaces", [1, 6])
def test_the_database_figures_take_seven_queries_whatever_the_rows(
    client, settings, alice, workspaces, django_assert_num_queries
):
    settings.METRICS_TOKEN = TOKEN
    _workspaces_with_figures(workspaces, alice)
    # 1 queue depth per cluster (django-q2's OrmQ), 2 posts queued or sending, 3 last history
    # sync of each working key's workspace, 4 ledger counts per connection (two correlated
    # subqueries), 5 alerts by kind, 6 failed webhook tries, 7 failing webhook endpoints.
    with django_assert_num_queries(7):
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("taisly_dash_taisly_rate_limited_last_hour{") == workspaces
    assert body.count("taisly_dash_sync_lag_seconds{") == workspaces


def test_production_refuses_a_short_metrics_token():
    from tests.unit.test_settings import PROD_OK, load_settings

    short = load_settings({**PROD_OK, "METRICS_TOKEN": "guessable"})
    assert short.returncode != 0
    assert "METRICS_TOKEN must be at least 32 random characters" in short.stderr
    ok = load_settings({**PROD_OK, "METRICS_TOKEN": "t" * 32}, "len(s.METRICS_TOKEN)")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "32"


def test_a_plain_http_scrape_is_not_redirected_in_production(settings):
    """Prometheus on the private network scrapes each web container over plain HTTP; every
    other page still goes to HTTPS."""
    settings.METRICS_TOKEN = TOKEN
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    assert client.get(reverse("healthz")).status_code == 301
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_gunicorn_gives_its_workers_one_metrics_directory_emptied_at_start(tmp_path, monkeypatch):
    from taisly_dash import gunicorn_conf

    given = tmp_path / "given"
    given.mkdir()
    (given / "counter_999999.db").write_bytes(b"left by an earlier run")
    (given / "keep.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(given))
    gunicorn_conf.on_starting(None)
    assert sorted(p.name for p in given.iterdir()) == ["keep.txt"]

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    gunicorn_conf.on_starting(None)
    made = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert made.parent == tmp_path and made.name.startswith("taisly-dash-metrics-")
    assert made.is_dir() and not any(made.iterdir())
    gunicorn_conf.on_exit(None)  # the one it made goes when it stops
    assert not made.exists() and given.exists()
