"""Shared fixtures: a running Taisly sandbox for the whole session, a fresh account per test.

And the ``postgres_only`` marker: a test that means something only on PostgreSQL (row locks
that make a concurrent request wait, several connections at once, PostgreSQL's own SQL) fails
on SQLite with a sentence saying so, rather than passing without testing anything. Set
``ALLOW_SQLITE=1`` to leave such tests out instead (they are listed as deselected); in CI
(``CI=true``, tests/ci_guard.py) that has no effect and they fail.
"""

from __future__ import annotations

import os

import pytest

from tests.ci_guard import in_ci
from tests.personas import *  # noqa: F401,F403 (persona fixtures: alice, bob, vera, ...)
from tests.sandbox_server import SandboxServer

NEEDS_POSTGRESQL = (
    "this test needs PostgreSQL: set DATABASE_URL=postgres://user@host:5432/name (`make test` "
    "uses the local PostgreSQL by itself when one answers on 127.0.0.1:5432)"
)


#: The node ids ALLOW_SQLITE left out of this run, for the closing summary.
_LEFT_OUT = pytest.StashKey[list[str]]()


def _on_postgresql() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def _sqlite_allowed() -> bool:
    return os.environ.get("ALLOW_SQLITE", "").lower() in ("1", "true", "yes") and not in_ci()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _on_postgresql() or not _sqlite_allowed():
        return
    left_out = [item for item in items if item.get_closest_marker("postgres_only")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("postgres_only")]
    config.stash[_LEFT_OUT] = [item.nodeid for item in left_out]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres_only") and not _on_postgresql():
        if in_ci():
            pytest.fail(f"{NEEDS_POSTGRESQL}; CI runs every test", pytrace=False)
        pytest.fail(
            f"{NEEDS_POSTGRESQL}, or set ALLOW_SQLITE=1 to leave the PostgreSQL-only tests out",
            pytrace=False,
        )


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if _on_postgresql():
        return
    left_out = config.stash.get(_LEFT_OUT, None)
    if left_out is not None:
        terminalreporter.write_line(
            f"Ran on SQLite with ALLOW_SQLITE=1: {len(left_out)} PostgreSQL-only test(s) left "
            "out, so row locks and concurrency were not tested: " + ", ".join(left_out),
            yellow=True,
        )
    elif os.environ.get("ALLOW_SQLITE") and in_ci():
        terminalreporter.write_line("ALLOW_SQLITE has no effect in CI.", yellow=True)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    server = SandboxServer(tmp_path_factory.mktemp("sandbox")).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox_account(sandbox):
    """A new STARTER account with all five networks connected; its own key, so its own quota."""
    account = sandbox.create_account()
    yield account
    sandbox.clear_faults()
    sandbox.reset_clock()


_TRANSACTIONAL = {"transactional_db", "live_server", "django_db_reset_sequences"}


@pytest.fixture(autouse=True)
def _cache_emptied_after_transactional_tests(request, django_db_blocker):
    """The cache is a database table (rate limits count there: review link opens per IP, sign
    in attempts). A test in a transaction leaves nothing behind; one that commits (a live server,
    a worker) would leave its counts to the next test in the same process, which then meets a
    429 that depends on the order the tests ran in. Such a test empties it when it ends."""
    yield
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or bool(
        _TRANSACTIONAL & set(request.fixturenames)
    )
    if transactional:
        from django.core.cache import cache

        with django_db_blocker.unblock():
            cache.clear()
