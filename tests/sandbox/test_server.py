"""The server around the API: unknown paths, wrong methods, the clock and account control."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
import requests
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404
from django.test import Client, override_settings

from sandbox import faults
from sandbox.management.commands.sandbox import SANDBOX_SETTINGS
from tests.sandbox.test_keys import assert_error
from tests.sandbox.test_posts import statuses
from tests.sandbox_server import MANAGE, ROOT


def test_unknown_api_paths_answer_the_envelope(sandbox):
    response = requests.get(f"{sandbox.base_url}/no/such/thing", timeout=5)

    assert_error(response, 404, "NOT_FOUND")


def test_a_wrong_method_answers_405_in_the_envelope(api):
    assert_error(api.post("/reposts"), 405, "METHOD_NOT_ALLOWED")
    assert_error(api.get("/repost/add"), 405, "METHOD_NOT_ALLOWED")


def test_the_clock_moves_forward_and_resets(sandbox):
    start = datetime.fromisoformat(sandbox.reset_clock()["now"])

    moved = sandbox.advance(7200)

    assert moved["offsetSeconds"] == 7200
    assert datetime.fromisoformat(moved["now"]) - start >= timedelta(seconds=7200)
    assert sandbox.reset_clock()["offsetSeconds"] == 0


def test_the_clock_can_be_set_into_the_past_and_dates_what_is_made_then(sandbox, api):
    start = datetime.fromisoformat(sandbox.reset_clock()["now"])

    moved = requests.post(
        f"{sandbox.root_url}/control/clock", json={"offset": -3 * 86400}, timeout=5
    ).json()["data"]
    rule = api.post(
        "/repost/add", json={"from": api.platform_ids["TikTok"], "to": [api.platform_ids["X"]]}
    ).json()["data"]
    sandbox.reset_clock()

    assert moved["offsetSeconds"] == -3 * 86400
    past = datetime.fromisoformat(rule["createdAt"])
    assert timedelta(days=3, minutes=-1) < start - past <= timedelta(days=3)


def test_a_platform_can_be_disconnected_and_reconnected(sandbox, api, videos):
    ids = api.platform_ids
    control = f"{sandbox.root_url}/control/platforms"

    answer = requests.post(control, json={"id": ids["X"], "connected": False}, timeout=5)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["connected"] is False
    before = api.create_post(videos["ok"], [ids["X"]]).json()["historyId"]
    requests.post(control, json={"id": ids["X"], "connected": True}, timeout=5)
    after = api.create_post(videos["ok"], [ids["X"]]).json()["historyId"]

    listed = {p["_id"]: p["connected"] for p in api.get("/platform/platforms").json()["data"]}
    assert listed[ids["X"]] is True
    sandbox.advance(2)
    assert statuses(api.post_in_history(before)) == {"X": ("FAILED", "PLATFORM_DISCONNECTED")}
    assert statuses(api.post_in_history(after)) == {"X": ("SUCCESS", None)}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"id": "0" * 24, "connected": True}, 404, "PLATFORM_NOT_FOUND"),
        ({"connected": "yes"}, 400, "INVALID_BODY"),
    ],
)
def test_platform_control_refuses_bad_bodies(sandbox, body, status, code):
    response = requests.post(f"{sandbox.root_url}/control/platforms", json=body, timeout=5)
    assert_error(response, status, code)


@pytest.mark.parametrize(
    "body",
    [
        {"advance": -5},
        {"advance": "10"},
        {},
        {"reset": False},
        {"offset": "-5"},
        {"offset": True},
        {"offset": None},
    ],
)
def test_the_clock_refuses_bad_moves(sandbox, body):
    response = requests.post(f"{sandbox.root_url}/control/clock", json=body, timeout=5)

    assert_error(response, 400, "INVALID_BODY")


@pytest.mark.parametrize(
    "body",
    [
        {"plan": "GOLD"},
        {"platforms": ["MySpace"]},
        {"platforms": ["TikTok"], "disconnected": ["X"]},
        {"platforms": "TikTok"},
    ],
)
def test_control_refuses_bad_accounts(sandbox, body):
    response = requests.post(f"{sandbox.root_url}/control/accounts", json=body, timeout=5)

    assert response.status_code == 400
    assert response.json()["success"] is False


def test_sandbox_account_command_prints_one_json_object(sandbox):
    env = {**os.environ, "SANDBOX_DATABASE_URL": f"sqlite:///{sandbox.db_path}"}
    completed = subprocess.run(
        [
            sys.executable,
            str(MANAGE),
            "sandbox_account",
            "--plan",
            "PRO",
            "--platforms",
            "TikTok,YouTube",
            "--disconnected",
            "YouTube",
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    account = json.loads(completed.stdout)
    assert set(account) == {"api_key", "plan", "platforms"}
    assert account["plan"] == "PRO"
    assert [(p["platform"], p["connected"]) for p in account["platforms"]] == [
        ("TikTok", True),
        ("YouTube", False),
    ]
    # Same database as the running server: the key works there at once.
    response = requests.get(
        f"{sandbox.base_url}/platform/platforms",
        headers={"Authorization": f"Bearer {account['api_key']}"},
        timeout=5,
    )
    assert [p["_id"] for p in response.json()["data"]] == [p["_id"] for p in account["platforms"]]


@pytest.mark.parametrize(
    ("raised", "status", "code"),
    [
        (RuntimeError("boom"), 500, "INTERNAL_ERROR"),
        (SuspiciousOperation("odd"), 400, "INVALID_REQUEST"),
        (PermissionDenied(), 403, "FORBIDDEN"),
        (Http404(), 404, "NOT_FOUND"),
    ],
)
def test_failures_outside_the_views_answer_the_envelope(monkeypatch, raised, status, code):
    # An exception in a middleware never reaches a view's error handling: Django answers it
    # through the URLconf's handlers, which must speak the envelope rather than HTML.
    def explode():
        raise raised

    monkeypatch.setattr(faults, "fault_claim", explode)
    client = Client(raise_request_exception=False)
    with override_settings(**SANDBOX_SETTINGS):
        response = client.get("/api/private/user/api-key")

    assert_error(response, status, code)
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("path", ["/", "/api/private", "/api/private/"])
def test_the_root_names_the_sandbox_and_lists_its_endpoints(sandbox, path):
    from sandbox.urls import api

    response = requests.get(f"{sandbox.root_url}{path}", timeout=5)

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"]["name"] == "Taisly sandbox"
    assert body["data"]["baseUrl"] == sandbox.base_url
    listed = {row["path"] for row in body["data"]["endpoints"]}
    assert listed == {f"/api/private/{pattern.pattern}" for pattern in api}
    assert {"method", "path", "what"} <= set(body["data"]["endpoints"][0])
    assert "/control/faults" in {row["path"] for row in body["data"]["control"]}


def test_the_root_needs_no_key_and_neither_counts_nor_consumes_a_fault(sandbox):
    sandbox.fault("500", count=1)
    try:
        response = requests.get(f"{sandbox.base_url}/", timeout=5)
        assert response.status_code == 200
        assert [f["mode"] for f in sandbox.state()["faults"]] == ["500"]
    finally:
        sandbox.clear_faults()


def test_the_root_answers_a_wrong_method_in_the_envelope(sandbox):
    assert_error(requests.post(f"{sandbox.root_url}/", timeout=5), 405, "METHOD_NOT_ALLOWED")
