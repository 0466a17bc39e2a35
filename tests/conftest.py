"""Shared fixtures: a running Taisly sandbox for the whole session, a fresh account per test."""

from __future__ import annotations

import pytest

from tests.personas import *  # noqa: F401,F403 (persona fixtures: alice, bob, vera, ...)
from tests.sandbox_server import SandboxServer


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
