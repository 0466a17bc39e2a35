"""Log lines: LOG_FORMAT=json writes one JSON object per line, each with the request id of its
request (taken from a well-formed X-Request-ID or made, and sent back), which tasks the request
queues carry on; plain stays the default. No key, webhook secret or TOTP secret reaches a line
in either format (tests/accounts/test_secrets.py scans the plain one).

The real processes (a JSON gunicorn, a JSON uploads cluster running a request's task) are in
tests/ops/test_ops_processes.py."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from accounts.models import TaislyConnection
from posting.connection import keys
from posting.mirror import sync
from posting.models import Post, WebhookEndpoint
from taisly_dash import logs, requestid
from tests.personas import PERSONA_PASSWORD, make_fresh, verified_user
from tests.posting.upload_fixtures import *  # noqa: F403
from tests.posting.upload_fixtures import compose_data, compose_url
from tests.posting.webhook_receiver import *  # noqa: F403

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


class JsonLog:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict]:
        """Every line, each parsed as one JSON object (a line that is not one fails the test)."""
        parsed = []
        for number, line in enumerate(self.text().splitlines(), start=1):
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                raise AssertionError(f"line {number} is not JSON: {line[:300]!r}") from None
            assert isinstance(item, dict), line[:300]
            assert {"time", "level", "logger", "message", "request_id"} <= item.keys(), item
            parsed.append(item)
        return parsed


@pytest.fixture
def json_log():
    """The project's logging as LOG_FORMAT=json configures it (every logger at DEBUG), its
    console handler writing to a buffer; Django's configuration again afterwards."""
    stream = io.StringIO()
    logging.config.dictConfig(logs.logging_config(log_format="json", level="DEBUG"))
    (console,) = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    console.setStream(stream)
    yield JsonLog(stream)
    logging.config.dictConfig(django_settings.LOGGING)


def test_plain_is_the_default_and_json_is_asked_for(tmp_path):
    def setting(**env) -> subprocess.CompletedProcess:
        code = "import django; django.setup(); from django.conf import settings as s; "
        code += "print(s.LOG_FORMAT, s.LOGGING['handlers']['console']['formatter'])"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("LOG_", "PYTEST"))}
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**base, "DJANGO_SETTINGS_MODULE": "taisly_dash.settings", **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert setting().stdout.split() == ["plain", "plain"]
    assert setting(LOG_FORMAT="json").stdout.split() == ["json", "json"]
    wrong = setting(LOG_FORMAT="xml")
    assert wrong.returncode != 0
    assert "LOG_FORMAT must be one of plain, json, not 'xml'" in wrong.stderr


def test_a_json_line_carries_the_request_id_given_by_the_proxy(json_log, client):
    given = "3f1c0c1e-5f7b-4d2a-9a57-0b6f3c1d2e4f"
    response = client.get(reverse("readyz"), HTTP_X_REQUEST_ID=given)
    assert response.status_code == 503  # no cluster runs here: it logs why
    assert response["X-Request-ID"] == given
    lines = json_log.lines()
    readyz = [line for line in lines if line["message"].startswith("readyz: ")]
    assert readyz and all(line["request_id"] == given for line in readyz)
    # Django's own line about the 503, written after the middleware returned, has it too.
    (answer,) = [line for line in lines if line["logger"] == "django.request"]
    assert answer["request_id"] == given and answer["status_code"] == 503
    assert answer["level"] == "ERROR"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "short",
        "x" * 129,
        "id with spaces and\nnew lines",
        'quote"d-request-id',
        "unicodé-request-id",
    ],
)
def test_a_missing_or_malformed_request_id_is_replaced(client, header):
    headers = {} if header is None else {"HTTP_X_REQUEST_ID": header}
    response = client.get(reverse("healthz"), **headers)
    made = response["X-Request-ID"]
    assert made != header and len(made) == 32 and int(made, 16) >= 0


def test_each_request_gets_its_own_id(client):
    first = client.get(reverse("healthz"))["X-Request-ID"]
    second = client.get(reverse("healthz"))["X-Request-ID"]
    assert first != second
    assert requestid.get() is None  # nothing left behind in this thread


def test_the_header_is_ignored_when_not_trusted(settings):
    settings.REQUEST_ID_TRUST_HEADER = False
    given = "a" * 32
    response = Client().get(reverse("healthz"), HTTP_X_REQUEST_ID=given)
    assert response["X-Request-ID"] != given


def test_a_json_traceback_is_one_line(json_log, client):
    logging.getLogger("tests").exception("plain failure", exc_info=RuntimeError("boom\nsecond"))
    try:
        raise ValueError("multi\nline")
    except ValueError:
        logging.getLogger("tests").exception("caught")
    (line,) = [item for item in json_log.lines() if item["message"] == "caught"]
    assert "ValueError: multi\nline" in line["exc_info"]
    assert len(json_log.text().splitlines()) == len(json_log.lines())


def _pieces(secret: str, size: int = 12) -> list[str]:
    return [secret[i : i + size] for i in range(len(secret) - size + 1)] or [secret]


def assert_absent(text: str, **secrets: str) -> None:
    for name, secret in secrets.items():
        assert secret, name
        leaked = [piece for piece in _pieces(secret) if piece in text]
        assert not leaked, f"{len(leaked)} piece(s) of the {name} in the JSON log"


@pytest.mark.django_db(transaction=True)  # tasks queued on commit, inside their request
def test_no_key_webhook_secret_or_totp_secret_in_any_json_line(
    json_log,
    settings,
    sandbox,
    sandbox_account,
    workspace,
    alice,
    bob,
    login,
    media,
    video_file,
    receiver,
    monkeypatch,
):
    settings.TAISLY_BASE_URL = sandbox.base_url
    old_key = sandbox_account["api_key"]
    owner = login(alice)
    connect = reverse("taisly:connect", kwargs={"code": workspace.code})

    # A key: refused while Taisly is down, wrong, malformed; then connected and regenerated.
    sandbox.fault("500")
    owner.post(connect, {"api_key": old_key})
    wrong = old_key[:-4] + "".join("1" if c == "0" else "0" for c in old_key[-4:])
    owner.post(connect, {"api_key": wrong})
    owner.post(connect, {"api_key": old_key + " !"})
    assert owner.post(connect, {"api_key": old_key}).status_code == 302
    regenerate = reverse("taisly:regenerate", kwargs={"code": workspace.code})
    assert owner.post(regenerate).status_code == 302
    new_key = TaislyConnection.objects.get(workspace=workspace).api_key
    assert new_key != old_key

    # A post, sent to Taisly by its task (inline in tests) in the compose request.
    sync.platforms_sync(workspace=workspace)
    payload = compose_data(workspace, description="json log scan")
    with open(video_file(), "rb") as fh:
        payload["video"] = fh
        response = login(bob).post(
            compose_url(workspace), payload, HTTP_X_REQUEST_ID="compose-1234"
        )
    assert response.status_code == 302
    assert Post.objects.get().state == Post.State.SENT

    # A webhook endpoint (its signing secret), a test event it refuses, then one it takes.
    hooks = reverse("posting:webhooks", kwargs={"code": workspace.code})
    owner.post(hooks, {"url": receiver.url(), "format": "json"})
    endpoint = WebhookEndpoint.objects.get()
    test_event = reverse(
        "posting:webhook_test", kwargs={"code": workspace.code, "endpoint": endpoint.code}
    )
    receiver.script = [500]
    owner.post(test_event, HTTP_X_REQUEST_ID="webhook-test-1")
    owner.post(test_event)
    assert len(receiver.received) >= 2

    # Two-factor sign-in turned on: the TOTP secret is shown once, and a code confirms it.
    dan = login(verified_user("dan@example.test"))
    dan.post(reverse("account_reauthenticate"), {"password": PERSONA_PASSWORD})
    dan.get(reverse("mfa_activate_totp"))
    totp_secret = dan.session[SECRET_SESSION_KEY]
    dan.post(reverse("mfa_activate_totp"), {"code": "000000"})
    code = format_hotp_value(hotp_value(totp_secret, int(time.time()) // 30))
    assert dan.post(reverse("mfa_activate_totp"), {"code": code}).status_code == 302

    # An unexpected failure while connecting a key: the 500 and its traceback are logged.
    def broken_store(**kwargs):
        raise RuntimeError("the database is on fire")

    monkeypatch.setattr(keys, "connection_store", broken_store)
    failing = Client(raise_request_exception=False)
    failing.force_login(alice)
    make_fresh(failing, alice)  # connecting a key asks for the password again first
    keys.connection_disconnect(workspace=workspace, actor=alice)
    assert failing.post(connect, {"api_key": new_key}).status_code == 500

    lines = json_log.lines()  # every line is one JSON object
    assert any("on fire" in line.get("exc_info", "") for line in lines)
    compose = [line for line in lines if line["request_id"] == "compose-1234"]
    assert any(line["message"].startswith("Post ") for line in compose)  # received, queued
    # The forward task it queued ran (inline here) with the same id.
    assert any(
        line["message"].startswith("Post ") and "sent to Taisly" in line["message"]
        for line in compose
    )
    assert any(line["message"].startswith("Task forward post") for line in compose)
    webhook = [line for line in lines if line["request_id"] == "webhook-test-1"]
    assert any(line["message"].startswith("Task webhook") for line in webhook)
    assert_absent(
        json_log.text(),
        old_key=old_key.removeprefix("taisly_"),
        new_key=new_key.removeprefix("taisly_"),
        webhook_secret=endpoint.secret,
        totp_secret=totp_secret,
    )


def test_the_log_level_is_checked_and_any_case_will_do():
    from tests.unit.test_settings import load_settings

    assert load_settings({"LOG_LEVEL": "warning"}, "s.LOG_LEVEL").stdout.strip() == "WARNING"
    wrong = load_settings({"LOG_LEVEL": "loud"})
    assert wrong.returncode != 0 and "LOG_LEVEL must be one of" in wrong.stderr
