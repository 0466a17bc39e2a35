"""`manage.py demo`, run as `make run` runs it: a subprocess on its own SQLite files, making its
sandbox accounts in the test sandbox's database and checking keys against that sandbox."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from posting.management.commands.demo import DEMO_TOTP_SECRET
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
    assert first.stdout.count("made through the sandbox now") == 2
    assert_posting_history(dashboard_db, keys, sandbox)

    before = query(dashboard_db, counts)
    posting_before = query(dashboard_db, POSTING_COUNTS)
    checks_before = key_checks(dashboard_db)
    second = manage("demo", db=dashboard_db, sandbox=sandbox)
    assert "0 new sandbox account(s)" in second.stdout
    assert f"authenticator secret {secret}" in second.stdout
    assert "unchecked" not in second.stdout
    assert second.stdout.count("already at the sandbox") == 2
    assert query(dashboard_db, counts) == before
    assert query(dashboard_db, POSTING_COUNTS) == posting_before  # no duplicate posts
    assert_posting_history(dashboard_db, keys, sandbox)
    assert stored_keys(dashboard_db) == keys
    assert_no_plaintext_key(dashboard_db, keys)
    # The second run asked the sandbox whether each stored key still works: through the
    # governor, so each check is a ledger row counted against its key (a bare client's call is
    # recorded with no key at all).
    checks = key_checks(dashboard_db)[len(checks_before) :]
    assert len(checks) == len(keys) and all(fingerprint for fingerprint, _ in checks)
    assert all(connection_id is not None for _, connection_id in checks)


def key_checks(db: Path) -> list[tuple[str, int | None]]:
    """The ledger's key-info requests, oldest first: (fingerprint, connection id)."""
    return query(
        db,
        "SELECT fingerprint, connection_id FROM posting_taislyrequest "
        "WHERE endpoint = 'GET /user/api-key' ORDER BY id",
    )


POSTING_COUNTS = (
    "SELECT (SELECT count(*) FROM posting_post), (SELECT count(*) FROM posting_postresult), "
    "(SELECT count(*) FROM posting_repostrule), (SELECT count(*) FROM posting_platform)"
)


def workspace_rows(db: Path, name: str, sql: str) -> list[tuple]:
    """``sql`` about posting_post ``p`` and posting_postresult ``r`` of workspace ``name``."""
    return query(
        db,
        "SELECT " + sql + " FROM posting_post p JOIN accounts_workspace w ON w.id = p.workspace_id "
        "LEFT JOIN posting_postresult r ON r.post_id = p.id "
        "LEFT JOIN posting_platform pl ON pl.id = r.platform_id WHERE w.name = ?",
        name,
    )


def assert_posting_history(db: Path, keys: dict[str, tuple[str, str]], sandbox) -> None:
    """Both client workspaces: weeks of posts with every kind of outcome, scheduled posts, one
    still pending, two repost rules (one paused), and the mirror holding what the sandbox has."""
    now = datetime.now(UTC)
    codes = {}
    for name in ("Kopi Senja", "Batik Nusantara"):
        ((posts, oldest),) = workspace_rows(db, name, "count(DISTINCT p.id), min(p.due_at)")
        assert posts >= 20, name
        assert datetime.fromisoformat(oldest).replace(tzinfo=UTC) < now - timedelta(days=21)
        codes[name] = {c for (c,) in workspace_rows(db, name, "DISTINCT r.code") if c}
        per_post = query(
            db,
            "SELECT p.id, p.scheduled_at IS NOT NULL AND p.due_at > datetime('now'), "
            "group_concat(DISTINCT r.status) FROM posting_post p "
            "JOIN accounts_workspace w ON w.id = p.workspace_id "
            "JOIN posting_postresult r ON r.post_id = p.id WHERE w.name = ? GROUP BY p.id",
            name,
        )
        statuses = [(future, set(s.split(","))) for _id, future, s in per_post]
        assert sum(1 for future, s in statuses if future and s == {"PENDING"}) >= 2, name
        assert sum(1 for future, s in statuses if not future and s == {"PENDING"}) == 1, name
        assert any(s == {"SUCCESS", "FAILED"} for _f, s in statuses), f"{name}: partly failed"
        assert any(s == {"SUCCESS"} for _f, s in statuses) and any(
            s == {"FAILED"} for _f, s in statuses
        )
        ((reposted,),) = workspace_rows(db, name, "count(*) FILTER (WHERE r.is_repost)")
        assert reposted > 0, f"{name}: reposts marked in history"
        rules = query(
            db,
            "SELECT r.taisly_id, r.paused, r.created_by_id IS NOT NULL FROM posting_repostrule r "
            "JOIN accounts_workspace w ON w.id = r.workspace_id WHERE w.name = ?",
            name,
        )
        assert sorted(paused for _i, paused, _b in rules) == [0, 1]
        assert all(by for _i, _p, by in rules)

        # The mirror and the sandbox agree: the same posts, the same rules.
        with TaislyClient(keys[name][1], base_url=sandbox.base_url) as client:
            there = {
                p.id
                for p in client.history_between(now - timedelta(days=90), now + timedelta(days=90))
            }
            rules_there = {r.id for r in client.reposts()}
        here = {i for (i,) in workspace_rows(db, name, "DISTINCT p.taisly_id")}
        assert here == there
        assert {i for i, _p, _b in rules} == rules_there
    assert "SANDBOX_FORCED_FAILURE" in codes["Kopi Senja"]
    assert {"SANDBOX_FORCED_FAILURE", "DESCRIPTION_TOO_LONG", "PLATFORM_DISCONNECTED"} <= codes[
        "Batik Nusantara"
    ]


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


def test_without_a_running_sandbox_the_seed_starts_one_for_itself(tmp_path, dashboard_db):
    """`make run` seeds before honcho starts the sandbox: the demo starts one on the configured
    port for its own run, and stops it afterwards."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    offline = SimpleNamespace(
        db_path=tmp_path / "offline-sandbox.sqlite3",
        base_url=f"http://127.0.0.1:{port}/api/private",
    )
    manage("migrate", "--no-input", db=dashboard_db, sandbox=offline)

    result = manage("demo", db=dashboard_db, sandbox=offline)

    assert "3 new sandbox account(s)" in result.stdout
    assert result.stdout.count("made through the sandbox now") == 2
    assert "unchecked" not in result.stdout
    assert query(dashboard_db, "SELECT count(*) >= 40 FROM posting_post") == [(1,)]
    with socket.socket() as after, pytest.raises(OSError):
        after.settimeout(1)
        after.connect(("127.0.0.1", port))  # stopped again


def test_the_demo_leaves_each_keys_hour_free_and_the_ledger_agrees_with_taisly(
    tmp_path, dashboard_db
):
    """Issue 17: after `manage.py demo` every demo workspace has used at most 5 requests of its
    current hour. The story's requests happened on the sandbox's clock weeks (or, for the posts
    scheduled ahead, a night) before; the ledger dates them when Taisly counted them, and still
    counts every request Taisly counts in this hour: the two agree."""
    with SandboxServer(tmp_path / "own-sandbox") as own:  # no other test's calls in its hour
        manage("migrate", "--no-input", db=dashboard_db, sandbox=own)
        manage("demo", db=dashboard_db, sandbox=own)

        used = dict(
            query(
                dashboard_db,
                "SELECT w.name, (SELECT count(*) FROM posting_taislyrequest r "
                "WHERE r.fingerprint = c.key_fingerprint "
                "AND r.started_at > datetime('now', '-1 hour')) "
                "FROM accounts_taislyconnection c "
                "JOIN accounts_workspace w ON w.id = c.workspace_id",
            )
        )
        assert set(used) >= {"Kopi Senja", "Batik Nusantara"} and len(used) == 3
        assert all(count <= 5 for count in used.values()), used
        # The seed did read Taisly now (whether the story existed, its history): counted.
        assert used["Kopi Senja"] >= 2 and used["Batik Nusantara"] >= 2
        # Taisly's own count of this hour (the sandbox's rate window, by its clock) is the same.
        with sqlite3.connect(own.db_path) as conn:
            (taisly_counted,) = conn.execute(
                "SELECT count(*) FROM sandbox_apicall WHERE at > datetime('now', '-1 hour')"
            ).fetchone()
        assert taisly_counted == sum(used.values())
        # Every story request is in the ledger all the same, at its moment.
        (story,) = query(
            dashboard_db,
            "SELECT count(*) FROM posting_taislyrequest WHERE endpoint = 'POST /post'",
        )[0]
        assert story == 43

        # The demo workspaces' STARTER key is not near its limit for the people trying it.
        manage("demo", db=dashboard_db, sandbox=own)  # the idempotent second run
        (again,) = query(
            dashboard_db,
            "SELECT count(*) FROM posting_taislyrequest r JOIN accounts_taislyconnection c "
            "ON r.fingerprint = c.key_fingerprint JOIN accounts_workspace w "
            "ON w.id = c.workspace_id WHERE w.name = 'Kopi Senja' "
            "AND r.started_at > datetime('now', '-1 hour')",
        )[0]
        assert again <= used["Kopi Senja"] + 3
