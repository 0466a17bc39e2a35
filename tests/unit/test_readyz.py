"""/readyz and the containers' health checks (taisly_dash/health.py), against the test database.
A real cluster's heartbeat is shown in tests/integration/test_cluster_processes.py and, in the
image, by CI's smoke test."""

from __future__ import annotations

import http.server
import os
import socket
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.db import OperationalError, connection
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from django_q.conf import Conf
from django_q.status import Stat

from taisly_dash import health

pytestmark = pytest.mark.django_db

#: A pid whose /proc entry does not exist: its cluster name cannot be read, as on another machine.
NO_SUCH_PID = 2**22 + 7


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(health, "_migrations_seen_applied", False)
    monkeypatch.delenv("Q_CLUSTER_NAME", raising=False)
    cache.clear()


def fake_stats(monkeypatch, *stats):
    monkeypatch.setattr(Stat, "get_all", staticmethod(lambda broker=None: list(stats)))


def stat(*, host=None, pid=NO_SUCH_PID, status=None):
    return SimpleNamespace(host=host or socket.gethostname(), pid=pid, status=status or Conf.IDLE)


def beat_every_cluster(monkeypatch):
    fake_stats(monkeypatch, stat())
    for name in health.cluster_names():
        monkeypatch.setenv("Q_CLUSTER_NAME", name)
        assert health.cluster_beat().ok


def test_it_is_ready_when_everything_is(client, monkeypatch):
    beat_every_cluster(monkeypatch)
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ready"
    assert body["failed"] == []
    names = {"database", "migrations", "cache_table"} | {
        f"cluster:{n}" for n in health.cluster_names()
    }
    assert set(body["checks"]) == names
    assert {"cluster:default", "cluster:uploads"} <= names


def test_it_names_a_cluster_that_was_never_seen(client, monkeypatch):
    fake_stats(monkeypatch, stat())
    monkeypatch.setenv("Q_CLUSTER_NAME", "default")
    health.cluster_beat()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert "cluster:uploads" in body["failed"]
    assert "cluster:default" not in body["failed"]
    assert body["checks"]["cluster:uploads"] == {"ok": False, "detail": "no heartbeat"}


def test_a_heartbeat_older_than_the_limit_does_not_count(client, monkeypatch):
    beat_every_cluster(monkeypatch)
    later = timezone.now() + health.HEARTBEAT_MAX_AGE + timedelta(seconds=5)
    monkeypatch.setattr(health.timezone, "now", lambda: later)
    body = client.get("/readyz").json()
    assert set(body["failed"]) == {f"cluster:{n}" for n in health.cluster_names()}
    assert body["checks"]["cluster:default"]["detail"].startswith("last heartbeat 9")


def test_it_names_an_unapplied_migration(client, monkeypatch):
    beat_every_cluster(monkeypatch)
    deleted, _ = (
        MigrationRecorder(connection)
        .migration_qs.filter(app="posting", name="0001_mirror")
        .delete()
    )
    assert deleted == 1
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["migrations"]
    assert "posting.0001_mirror" in body["checks"]["migrations"]["detail"]


def test_it_says_the_cache_table_is_missing(client, monkeypatch):
    beat_every_cluster(monkeypatch)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE taisly_dash_cache")
    # Rolled back with the test's transaction (PostgreSQL and SQLite both undo DDL).
    body = client.get("/readyz").json()
    assert "cache_table" in body["failed"]
    assert "taisly_dash_cache" in body["checks"]["cache_table"]["detail"]
    assert "createcachetable" in body["checks"]["cache_table"]["detail"]


def test_it_says_the_database_does_not_answer_and_asks_nothing_else(client, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(health.connection, "cursor", down)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["database"]
    assert "does not answer" in response.json()["checks"]["database"]["detail"]


def test_readyz_needs_no_login_and_refuses_post(client):
    assert client.post("/readyz").status_code == 405
    assert client.get("/readyz").status_code in (200, 503)


# --- the cluster health check: its own cluster only ---------------------------------------


def test_a_cluster_on_another_host_is_not_this_containers(monkeypatch):
    fake_stats(monkeypatch, stat(host="some-other-container"))
    check = health.cluster_beat()
    assert not check.ok
    assert "not running" in check.detail
    assert cache.get("taisly_dash:health:cluster:default") is None


def test_a_cluster_of_another_name_on_this_host_is_not_this_containers(monkeypatch):
    # This test process has no Q_CLUSTER_NAME: as a local cluster process it is "default".
    fake_stats(monkeypatch, stat(pid=os.getpid()))
    monkeypatch.setenv("Q_CLUSTER_NAME", "uploads")
    assert not health.cluster_beat().ok
    monkeypatch.setenv("Q_CLUSTER_NAME", "default")
    assert health.cluster_beat().ok


def test_a_stopping_cluster_is_not_running(monkeypatch):
    fake_stats(monkeypatch, stat(status=Conf.STOPPING))
    check = health.cluster_beat()
    assert not check.ok
    assert "Stopping" in check.detail


def test_the_command_exits_1_without_a_cluster_and_0_with_one(monkeypatch, capsys):
    fake_stats(monkeypatch)
    assert health.main(["health", "cluster"]) == 1
    assert "NOT OK" in capsys.readouterr().out
    fake_stats(monkeypatch, stat())
    assert health.main(["health", "cluster"]) == 0
    assert health.main(["health", "nonsense"]) == 2


# --- the web health check: asks as the proxy would ----------------------------------------


@pytest.fixture
def fake_web(monkeypatch):
    seen = []
    answer = {"status": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append((self.path, self.headers["Host"], self.headers["X-Forwarded-Proto"]))
            self.send_response(answer["status"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PORT", str(server.server_address[1]))
    yield seen, answer
    server.shutdown()
    server.server_close()


def test_the_web_check_asks_healthz_for_an_allowed_host_over_https(settings, fake_web):
    seen, answer = fake_web
    settings.ALLOWED_HOSTS = [".example.com", "dash.example.com"]
    assert health.web_answers().ok
    assert seen == [("/healthz", "example.com", "https")]
    answer["status"] = 503
    check = health.web_answers()
    assert not check.ok
    assert "503" in check.detail


def test_the_web_check_fails_when_nothing_listens(monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("PORT", str(port))
    check = health.web_answers()
    assert not check.ok
    assert "does not answer" in check.detail
