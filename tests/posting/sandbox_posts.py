"""Fixtures for the history, post, calendar and accounts pages: a workspace connected to a fresh
sandbox account, and a way to make posts straight against the sandbox (as Taisly's own app
would), so the dashboard only learns of them through sync.

Test modules use them with ``from tests.posting.sandbox_posts import *``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from posting.connection import keys
from posting.taisly import taisly_call
from tests.sandbox.conftest import Api
from tests.videos import make_video

__all__ = ["Api", "calls", "connected", "sandbox_api", "taisly", "test_video", "now_ms"]


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def taisly(settings, sandbox):
    """The dashboard's client pointed at the test sandbox."""
    settings.TAISLY_BASE_URL = sandbox.base_url
    return sandbox


@pytest.fixture
def connected(workspace, alice, taisly, sandbox_account):
    """``workspace`` with ``sandbox_account``'s key connected by alice (platforms stored)."""
    keys.connection_connect(
        workspace=workspace, api_key=sandbox_account["api_key"], plan=None, actor=alice
    )
    return sandbox_account


@pytest.fixture
def sandbox_api(sandbox, sandbox_account) -> Api:
    """The sandbox account's API, spoken to directly (as Taisly's own app would)."""
    return Api(sandbox.base_url, sandbox_account["api_key"], sandbox_account)


@pytest.fixture(scope="session")
def test_video(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("history-videos") / "ok.mp4")


@pytest.fixture
def calls():
    """Every Taisly call the dashboard made during the test, as CallRecords."""
    records = []

    def receiver(sender, record, context, **kwargs):
        records.append(record)

    taisly_call.connect(receiver, weak=False, dispatch_uid="test_posting_calls")
    yield records
    taisly_call.disconnect(dispatch_uid="test_posting_calls")
