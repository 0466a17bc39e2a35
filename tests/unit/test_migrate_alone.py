"""``manage.py migrate`` alone gives a working site: the database cache's table (where allauth
counts log-in attempts) comes with the migrations, so nobody has to remember
``createcachetable``. Shown on a new, empty database of each vendor, with a real log-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env(database_url: str, tmp: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_ENV"))},
        "DJANGO_SETTINGS_MODULE": "taisly_dash.settings",
        "DJANGO_ENV": "development",
        "DATABASE_URL": database_url,
        "SANDBOX_DATABASE_URL": f"sqlite:///{tmp / 'unused-sandbox.sqlite3'}",
        "LOG_LEVEL": "CRITICAL",
    }


def _migrate_then_log_in(database_url: str, tmp: Path) -> dict:
    env = _env(database_url, tmp)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    done = subprocess.run(
        [sys.executable, "-m", "tests.unit.fresh_login"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_logged_in(answers: dict) -> None:
    assert answers == {
        "form": 200,
        "wrong": 422,  # the form again, with its error: the failure was counted in the cache
        "right": 302,
        "home": 200,
        "signed_in_as": "fresh@example.test",
    }


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_a_new_postgresql_database_migrated_alone_serves_a_log_in(tmp_path):
    from django.db import connection

    server = connection.settings_dict
    params = {
        "host": server["HOST"] or "127.0.0.1",
        "port": server["PORT"] or 5432,
        "user": server["USER"],
        "password": server["PASSWORD"] or None,
        "dbname": "postgres",
        "autocommit": True,
    }
    name = f"taisly_migrate_alone_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(**params) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        auth = server["USER"] + (f":{server['PASSWORD']}" if server["PASSWORD"] else "")
        url = f"postgres://{auth}@{params['host']}:{params['port']}/{name}"
        _assert_logged_in(_migrate_then_log_in(url, tmp_path))
    finally:
        with psycopg.connect(**params) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_new_sqlite_database_migrated_alone_serves_a_log_in(tmp_path):
    _assert_logged_in(_migrate_then_log_in(f"sqlite:///{tmp_path / 'fresh.sqlite3'}", tmp_path))


def test_the_cache_migration_leaves_a_table_made_by_hand_alone(tmp_path):
    """A site that ran ``createcachetable`` before this migration existed migrates cleanly."""
    env = _env(f"sqlite:///{tmp_path / 'old.sqlite3'}", tmp_path)

    def manage(*args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, timeout=300
        )

    manage("createcachetable")  # the table is there before the migration that makes it runs
    manage("migrate", "--noinput", "-v0")
    done = subprocess.run(
        [sys.executable, "-m", "tests.unit.fresh_login"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    _assert_logged_in(json.loads(done.stdout.strip().splitlines()[-1]))
