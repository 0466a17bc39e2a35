"""taisly_for (posting.taisly.gateway) against the sandbox: every Taisly failure is a sentence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import TaislyConnection
from posting.connection import keys
from posting.taisly.gateway import TaislyActionError, taisly_for
from tests.posting.sandbox_posts import *  # noqa: F403

pytestmark = pytest.mark.django_db


def platforms_of(workspace):
    with taisly_for(workspace) as client:
        return client.platforms()


def test_it_gives_a_working_client_for_the_stored_key(workspace, connected, calls):
    with taisly_for(workspace) as client:
        platforms = client.platforms()

    assert len(platforms) == 5
    assert [c.endpoint for c in calls] == ["GET /platform/platforms"]


def test_it_refuses_without_a_key_before_any_request(workspace, taisly, calls):
    with pytest.raises(TaislyActionError, match="no Taisly key connected"):
        platforms_of(workspace)

    assert calls == []


def test_it_refuses_a_disconnected_key(workspace, alice, connected, calls):
    keys.connection_disconnect(workspace=workspace, actor=alice)

    with pytest.raises(TaislyActionError):
        platforms_of(workspace)

    assert calls == []


def test_a_429_blocks_the_key_and_says_when_it_works_again(workspace, connected, sandbox, calls):
    sandbox.fault("429", retryAfter=600)

    with pytest.raises(TaislyActionError, match="10 minutes") as caught:
        platforms_of(workspace)

    assert caught.value.cause is not None and not caught.value.ambiguous
    connection = TaislyConnection.objects.get(workspace=workspace)
    assert connection.blocked_until > timezone.now() + timedelta(minutes=9)

    # Until then no request is made at all.
    with pytest.raises(TaislyActionError, match="limit"):
        platforms_of(workspace)
    assert len(calls) == 1


def test_a_revoked_key_is_marked_invalid(workspace, connected, sandbox_api, calls):
    assert sandbox_api.post("/user/api-key/revoke").status_code == 200

    with pytest.raises(TaislyActionError, match="did not accept"):
        platforms_of(workspace)

    assert TaislyConnection.objects.get(workspace=workspace).status == "invalid"
    with pytest.raises(TaislyActionError, match="no longer accepts"):
        platforms_of(workspace)
    assert len(calls) == 1


def test_an_outage_is_a_sentence_and_ambiguous(workspace, connected, sandbox):
    sandbox.fault("500")

    with pytest.raises(TaislyActionError, match="HTTP 500") as caught:
        platforms_of(workspace)

    assert caught.value.ambiguous
    assert TaislyConnection.objects.get(workspace=workspace).status == "active"


def test_a_timeout_is_a_sentence(workspace, connected, sandbox, settings):
    settings.TAISLY_READ_TIMEOUT = 0.5
    sandbox.fault("timeout", delay=2)

    with pytest.raises(TaislyActionError, match="did not answer in time"):
        platforms_of(workspace)


def test_garbage_is_a_sentence(workspace, connected, sandbox):
    sandbox.fault("garbage")

    with pytest.raises(TaislyActionError, match="could not be understood"):
        platforms_of(workspace)
