"""Concurrency across processes, on PostgreSQL (as production and CI run): the governor under
threads that each hold their own database connection, and two real qcluster processes syncing a
dozen due workspaces.

These tests make a PostgreSQL database of their own (migrated once for the module, dropped
afterwards) on the server of DATABASE_URL, so they run only when the suite does on
PostgreSQL (``postgres_only``, tests/conftest.py): the test database is not shared with other
processes, and SQLite has no row locks to race on.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.postgres_only


def _server_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    assert url.startswith(("postgres://", "postgresql://")), "DATABASE_URL names no PostgreSQL"
    return url.rsplit("/", 1)[0] + "/postgres"


class PostgresProject:
    def __init__(self, tmp: Path, sandbox_url: str) -> None:
        self.name = f"taisly_quota_procs_{uuid.uuid4().hex[:8]}"
        self.server = _server_url()
        self.url = self.server.rsplit("/", 1)[0] + "/" + self.name
        self.tmp = tmp
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_ENV"))},
            "DJANGO_SETTINGS_MODULE": "taisly_dash.settings",
            "DJANGO_ENV": "development",
            "DATABASE_URL": self.url,
            "SANDBOX_DATABASE_URL": f"sqlite:///{tmp / 'unused-sandbox.sqlite3'}",
            "TAISLY_BASE_URL": sandbox_url,
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",
        }

    def create(self) -> None:
        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        # Also makes the cache's table, where django-q2 clusters save their status.
        self.manage("migrate", "-v0")

    def drop(self) -> None:
        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, timeout=120
        )

    def script(self, *args: str, stdin: str = "", timeout: float = 60) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "tests.posting.quota_script", *args],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def pg_project(sandbox, tmp_path_factory):
    project = PostgresProject(tmp_path_factory.mktemp("pg-project"), sandbox.base_url)
    project.create()
    yield project
    project.drop()


def test_threads_deciding_at_once_never_overspend_on_postgresql(pg_project):
    """Eight threads, each with its own connection, reserve three requests each for a key with
    10 of 50 left: exactly 10 are granted (the key's KeyBudget row lock serialises them)."""
    out = pg_project.script("race")

    assert out["vendor"] == "postgresql"
    assert out["errors"] == []
    assert (out["granted"], out["refused"]) == (10, 14)
    assert out["rows"] == 50


def test_two_qclusters_sync_a_dozen_due_workspaces_once_each_at_a_time(pg_project, sandbox):
    keys = [sandbox.create_account()["api_key"] for _ in range(12)]
    seeded = pg_project.script("seed", stdin=json.dumps(keys))["connections"]
    env = {
        **pg_project.env,
        "Q_WORKERS": "2",
        # Due again a few seconds after each sync, so every cycle finds all twelve due.
        # (An idle share far above any real one: 1,800 reads an hour of Starter's 50.)
        "SYNC_IDLE_SHARE": "36",
        "SYNC_FIRST_SECONDS": "1",
    }
    logs = [open(pg_project.tmp / f"qcluster-{i}.log", "wb") for i in range(2)]  # noqa: SIM115
    clusters = [
        subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for log in logs
    ]
    started = time.monotonic()
    try:
        # Both clusters up (their workers spawned, each saying so in its status) before the
        # schedulers start handing out work.
        try:
            up = pg_project.script("up", *(str(c.pid) for c in clusters), timeout=60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{_tails(pg_project)}") from None
        print("clusters up after", round(time.monotonic() - started, 1), "s:", up["clusters"])
        assert all(c.poll() is None for c in clusters), _tails(pg_project)
        pg_project.script("drive", "4", "2", timeout=60)
        print("driven after", round(time.monotonic() - started, 1), "s")
    finally:
        for cluster in clusters:
            if cluster.poll() is None:
                cluster.terminate()  # the guard stops its own workers
        for cluster in clusters:
            with contextlib.suppress(subprocess.TimeoutExpired):
                cluster.wait(8)
            # Whatever is left of the cluster's process group (its workers) goes too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait(5)
        for log in logs:
            log.close()
    print("clusters stopped after", round(time.monotonic() - started, 1), "s")
    assert time.monotonic() - started < 60

    out = pg_project.script("report")
    rows, results = out["rows"], out["results"]
    print("syncs per connection:", {k: len(v) for k, v in rows.items()}, "results:", results)
    assert out["dispatches"] >= 4
    # Every connection synced.
    assert sorted(int(k) for k in out["synced"]) == sorted(seeded)
    assert all(out["synced"].values()), out["synced"]
    for connection_id in seeded:
        mine = rows.get(str(connection_id), [])
        synced = [r for r in results.get(str(connection_id), []) if r == "synced"]
        assert mine, f"connection {connection_id} made no request"
        assert all(r["endpoint"] == "GET /post/history" and r["status"] == 200 for r in mine)
        assert all(r["kind"] == "background" and r["done"] for r in mine)
        # No doubled request: one history request per sync that ran, no more.
        assert len(mine) == len(synced), (connection_id, mine, results[str(connection_id)])
        # Never two syncs of one connection at once.
        for earlier, later in zip(mine, mine[1:], strict=False):
            assert earlier["start"] + earlier["ms"] / 1000 <= later["start"], (connection_id, mine)
    # Tickets were handed out more than once per cycle by the racing schedulers, or redelivered:
    # whatever happened, only the spent ticket synced.
    assert sum(len(v) for v in results.values()) >= len(seeded)


def _tails(project: PostgresProject) -> str:
    return "\n".join(
        (project.tmp / f"qcluster-{i}.log").read_text(errors="replace")[-2000:] for i in range(2)
    )
