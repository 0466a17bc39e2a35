"""Injected faults: 500, timeout, garbage, 429 and drop, each for the next N API calls."""

from __future__ import annotations

import time

import pytest
import requests

from tests.sandbox.test_keys import assert_error


def test_500_answers_the_envelope_and_does_not_carry_the_call_out(sandbox, api):
    sandbox.fault("500")
    ids = api.platform_ids

    response = api.post("/repost/add", json={"from": ids["TikTok"], "to": [ids["X"]]})

    assert_error(response, 500, "INTERNAL_ERROR")
    assert api.get("/reposts").json()["data"] == []


def test_a_fault_lasts_for_count_calls(sandbox, api):
    sandbox.fault("500", count=2)

    codes = [api.get("/platform/platforms").status_code for _ in range(3)]

    assert codes == [500, 500, 200]


def test_faults_queue_up_oldest_first(sandbox, api):
    sandbox.fault("500")
    sandbox.fault("garbage")

    first, second, third = (api.get("/reposts") for _ in range(3))

    assert (first.status_code, second.status_code, third.status_code) == (500, 200, 200)
    assert second.headers["Content-Type"].startswith("text/html")
    assert third.json()["success"] is True


def test_timeout_delays_the_answer_and_then_answers_normally(sandbox, api):
    sandbox.fault("timeout", delay=0.6)
    started = time.monotonic()

    response = api.get("/platform/platforms", timeout=5)

    assert time.monotonic() - started >= 0.6
    assert response.status_code == 200
    assert len(response.json()["data"]) == 5


def test_timeout_makes_a_client_time_out_but_the_call_is_carried_out(sandbox, api):
    sandbox.fault("timeout", delay=1.0)
    ids = api.platform_ids

    with pytest.raises(requests.Timeout):
        api.post("/repost/add", json={"from": ids["TikTok"], "to": [ids["X"]]}, timeout=0.3)

    deadline = time.monotonic() + 5
    while not (rules := api.get("/reposts").json()["data"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [rule["from"] for rule in rules] == [ids["TikTok"]]


def test_garbage_answers_200_with_a_body_that_is_not_json(sandbox, api):
    sandbox.fault("garbage")

    response = api.get("/user/api-key")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(requests.JSONDecodeError):
        response.json()


def test_429_fault_answers_with_the_given_retry_after(sandbox, api):
    sandbox.fault("429", retryAfter=7)

    response = api.get("/user/api-key")

    body = assert_error(response, 429, "RATE_LIMITED")
    assert body["retryAfter"] == 7
    assert response.headers["Retry-After"] == "7"
    assert api.get("/user/api-key").status_code == 200


def test_429_fault_defaults_to_30_seconds(sandbox, api):
    sandbox.fault("429")

    assert api.get("/user/api-key").json()["retryAfter"] == 30


def test_drop_closes_the_connection_without_an_answer(sandbox, api):
    sandbox.fault("drop")

    with pytest.raises(requests.ConnectionError):
        api.get("/platform/platforms")

    assert api.get("/platform/platforms").status_code == 200


def test_a_dropped_post_was_really_created(sandbox, api, videos):
    sandbox.fault("drop")

    with pytest.raises(requests.ConnectionError):
        api.create_post(videos["ok"], [api.platform_ids["TikTok"]], description="lost answer")

    posts = api.history()["data"]
    assert [post["description"] for post in posts] == ["lost answer"]


def test_faults_apply_only_to_api_calls(sandbox, api):
    sandbox.fault("500")

    assert sandbox.state()["faults"] == [
        {"mode": "500", "remaining": 1, "delay": 20.0, "retryAfter": 30}
    ]
    assert_error(api.get("/reposts"), 500, "INTERNAL_ERROR")
    assert sandbox.state()["faults"] == []


def test_clearing_faults_stops_them(sandbox, api):
    sandbox.fault("500", count=5)

    sandbox.clear_faults()

    assert api.get("/reposts").status_code == 200


def test_faults_hit_unauthenticated_calls_too(sandbox):
    sandbox.fault("garbage")

    response = requests.get(f"{sandbox.base_url}/user/api-key", timeout=5)

    assert response.status_code == 200
    assert response.text == "<html>upstream error</html>"


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "explode"},
        {"mode": "500", "count": 0},
        {"mode": "500", "count": "2"},
        {"mode": "timeout", "delay": -1},
        {"mode": "429", "retryAfter": 0},
    ],
)
def test_control_refuses_bad_faults(sandbox, body):
    response = requests.post(f"{sandbox.root_url}/control/faults", json=body, timeout=5)

    assert_error(response, 400, "INVALID_BODY")
    assert sandbox.state()["faults"] == []
