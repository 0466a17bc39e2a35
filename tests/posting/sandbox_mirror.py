"""Fixtures for posting tests that talk to the sandbox: a workspace whose stored key is a sandbox
account's, with its platforms mirrored, and a recorder of every Taisly call. Import them into a
test module (not a conftest, so other posting tests keep their own)."""

from __future__ import annotations

import pytest

from posting.connection import keys
from posting.models import Platform
from posting.taisly import taisly_call

__all__ = ["mirror_platforms", "mirrored", "taisly", "taisly_calls"]


@pytest.fixture
def taisly(settings, sandbox):
    """The dashboard's client pointed at the test sandbox."""
    settings.TAISLY_BASE_URL = sandbox.base_url
    return sandbox


@pytest.fixture
def taisly_calls():
    """Every Taisly call made during the test, as CallRecords."""
    records = []

    def receiver(sender, record, context, **kwargs):
        records.append(record)

    taisly_call.connect(receiver, weak=False, dispatch_uid="tests_posting_calls")
    yield records
    taisly_call.disconnect(dispatch_uid="tests_posting_calls")


def mirror_platforms(workspace, account: dict) -> dict[str, Platform]:
    """The sandbox account's platforms as mirror rows (what a platform sync stores), by network."""
    rows = {}
    for item in account["platforms"]:
        rows[item["platform"]] = Platform.objects.create(
            workspace=workspace,
            taisly_id=item["_id"],
            network=item["platform"],
            name=item.get("name") or "",
            connected=item.get("connected", True),
        )
    return rows


@pytest.fixture
def mirrored(workspace, alice, taisly, sandbox_account):
    """``workspace`` with ``sandbox_account``'s key stored (alice) and its platforms mirrored:
    ``mirrored["TikTok"]`` is the TikTok Platform row; ``mirrored.account`` the sandbox account."""

    class Mirrored(dict):
        account: dict

    keys.connection_store(
        workspace=workspace,
        api_key=sandbox_account["api_key"],
        plan="STARTER",
        actor=alice,
        verified=True,
    )
    result = Mirrored(mirror_platforms(workspace, sandbox_account))
    result.account = sandbox_account
    return result
