"""`manage.py demo`, run as `make run` runs it: a subprocess on its own SQLite files, making its
sandbox accounts in the test sandbox's database and checking keys against that sandbox."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from accounts.management.commands.demo import DEMO_TOTP_SECRET
from posting.taisly import TaislyClient
from tests.sandbox_server import SandboxServer

ROOT = Path(__file__).resolve().parents[2]
PLAINTEXT_KEY = re.compile(rb"taisly_[0-9a-f]{64}")
# The fixed development key: the subprocess runs with no TAISLY_DASH_ENCRYPTION_KEYS.
DEV_KEY = "ZGV2LW9ubHktZmVybmV0LWtleS1ub3Qtc2VjcmV0ISE="
EMAILS = (
    "agency@demo.test",
    "editor@demo.test",
    "client@demo.test",
    "solo@demo.test",
    "staff@demo.test",
)


def manage(*args: str, db: Path, sandbox: SandboxServer) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "TAISLY_", "DATABASE_", "SANDBOX_"))
    }
    env |= {
        "DATABASE_URL": f"sqlite:///{db}",
        "SANDBOX_DATABASE_URL": f"sqlite:///{sandbox.db_path}",
        "TAISLY_BASE_URL": sandbox.base_url,
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result


def query(db: Path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def stored_keys(db: Path) -> dict[str, tuple[str, str]]:
    """Workspace name -> (plan, plaintext key), decrypted here with the development key."""
    rows = query(
        db,
        "SELECT w.name, c.plan, c.api_key FROM accounts_taislyconnection c "
        "JOIN accounts_workspace w ON w.id = c.workspace_id",
    )
    fernet = Fernet(DEV_KEY)
    return {name: (plan, fernet.decrypt(token.encode()).decode()) for name, plan, token in rows}


def assert_no_plaintext_key(db: Path, keys: dict[str, tuple[str, str]]) -> None:
    """No key-shaped text, and no part of the stored keys (even without the ``taisly_`` prefix,
    as bytes or as its hex text), in the database files or the task tables."""
    secrets = [api_key.removeprefix("taisly_") for _plan, api_key in keys.values()]
    assert secrets and all(len(secret) >= 32 for secret in secrets)
    pieces = [secret[i : i + 16].encode() for secret in secrets for i in range(0, 49, 16)]
    pieces += [bytes.fromhex(secret)[:16] for secret in secrets]
    # Every file SQLite may have written to: the database and its write-ahead log.
    for path in db.parent.glob(db.name + "*"):
        data = path.read_bytes()
        assert not PLAINTEXT_KEY.search(data), f"plaintext key in {path.name}"
        assert not [p for p in pieces if p in data], f"part of a stored key in {path.name}"
    for table in ("django_q_ormq", "django_q_task"):
        for row in query(db, f"SELECT * FROM {table}"):  # noqa: S608 (fixed names)
            assert not PLAINTEXT_KEY.search(repr(row).encode())
            assert not [p for p in pieces if p in repr(row).encode()]


def memberships(db: Path, email: str) -> set[tuple[str, str, str]]:
    return set(
        query(
            db,
            "SELECT w.name, w.kind, m.role FROM accounts_membership m "
            "JOIN accounts_user u ON u.id = m.user_id "
            "JOIN accounts_workspace w ON w.id = m.workspace_id WHERE u.email = ?",
            email,
        )
    )


def key_plan_at(base_url: str, api_key: str) -> str:
    with TaislyClient(api_key, base_url=base_url) as client:
        return client.key_info().plan


@pytest.fixture
def dashboard_db(tmp_path) -> Path:
    return tmp_path / "dashboard.sqlite3"


def test_the_seed_makes_the_demo_idempotently_and_stores_no_plaintext(sandbox, dashboard_db):
    manage("migrate", "--no-input", db=dashboard_db, sandbox=sandbox)
    first = manage("demo", db=dashboard_db, sandbox=sandbox)
    assert "3 new sandbox account(s)" in first.stdout
    for email in EMAILS:
        assert email in first.stdout
    assert "demo-pass-123" in first.stdout
    assert not PLAINTEXT_KEY.search((first.stdout + first.stderr).encode())

    keys = stored_keys(dashboard_db)
    assert keys["Kopi Senja"][0] == "STARTER"
    assert keys["Batik Nusantara"][0] == "PRO"
    solo_personal = {name for name, kind, _ in memberships(dashboard_db, "solo@demo.test")}
    assert len(solo_personal) == 1
    (solo_workspace,) = solo_personal
    assert keys[solo_workspace][0] == "STARTER"
    for plan, api_key in keys.values():
        assert key_plan_at(sandbox.base_url, api_key) == plan
    with TaislyClient(keys["Batik Nusantara"][1], base_url=sandbox.base_url) as client:
        platforms = client.platforms()
    assert len(platforms) == 5 and sum(not p.connected for p in platforms) == 1

    assert {("Kopi Senja", "client", "owner"), ("Batik Nusantara", "client", "owner")} <= (
        memberships(dashboard_db, "agency@demo.test")
    )
    assert ("Kopi Senja", "client", "editor") in memberships(dashboard_db, "editor@demo.test")
    assert ("Batik Nusantara", "client", "viewer") in memberships(dashboard_db, "client@demo.test")
    assert memberships(dashboard_db, "solo@demo.test") == {(solo_workspace, "personal", "owner")}
    assert query(
        dashboard_db, "SELECT is_staff FROM accounts_user WHERE email = ?", "staff@demo.test"
    ) == [(1,)]
    assert_no_plaintext_key(dashboard_db, keys)
    # Every demo address is verified (each can be invited and join) ...
    assert query(
        dashboard_db,
        "SELECT u.email FROM account_emailaddress e JOIN accounts_user u ON u.id = e.user_id "
        'WHERE e.verified AND e."primary" AND e.email = u.email ORDER BY u.email',
    ) == [(email,) for email in sorted(EMAILS)]
    # ... and solo signs in with two-factor, its authenticator secret printed for a person.
    assert query(
        dashboard_db,
        "SELECT a.type FROM mfa_authenticator a JOIN accounts_user u ON u.id = a.user_id "
        "WHERE u.email = ? ORDER BY a.type",
        "solo@demo.test",
    ) == [("recovery_codes",), ("totp",)]
    secret = re.search(r"authenticator secret ([A-Z2-7]{16,})", first.stdout).group(1)
    assert secret == DEMO_TOTP_SECRET

    counts = (
        "SELECT (SELECT count(*) FROM accounts_user), (SELECT count(*) FROM "
        "accounts_workspace), (SELECT count(*) FROM accounts_membership), (SELECT count(*) "
        "FROM accounts_auditevent), (SELECT count(*) FROM account_emailaddress), "
        "(SELECT count(*) FROM mfa_authenticator)"
    )
    before = query(dashboard_db, counts)
    second = manage("demo", db=dashboard_db, sandbox=sandbox)
    assert "0 new sandbox account(s)" in second.stdout
    assert f"authenticator secret {secret}" in second.stdout
    assert "unchecked" not in second.stdout
    assert query(dashboard_db, counts) == before
    assert stored_keys(dashboard_db) == keys
    assert_no_plaintext_key(dashboard_db, keys)


def test_a_wiped_sandbox_gets_new_accounts_and_keys(sandbox, dashboard_db, tmp_path):
    manage("migrate", "--no-input", db=dashboard_db, sandbox=sandbox)
    manage("demo", db=dashboard_db, sandbox=sandbox)
    old = stored_keys(dashboard_db)

    with SandboxServer(tmp_path / "fresh-sandbox") as fresh:  # knows none of the old keys
        again = manage("demo", db=dashboard_db, sandbox=fresh)
        assert "3 new sandbox account(s)" in again.stdout
        new = stored_keys(dashboard_db)
        assert set(new) == set(old)
        for name, (plan, api_key) in new.items():
            assert api_key != old[name][1]
            assert key_plan_at(fresh.base_url, api_key) == plan
    assert_no_plaintext_key(dashboard_db, {**{f"old {n}": k for n, k in old.items()}, **new})


def test_the_seed_refuses_to_run_in_production(settings, db):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        call_command("demo")
