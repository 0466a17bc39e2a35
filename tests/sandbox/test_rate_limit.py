"""The per-account sliding window: 50 calls an hour on STARTER, then 429 with retryAfter."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from tests.sandbox.conftest import Api
from tests.sandbox.test_keys import assert_error
from tests.sandbox_server import SandboxServer

LIMIT = 50
WINDOW = 3600


def spend(api: Api, calls: int, path: str = "/user/api-key", expect: int = 200) -> None:
    for _ in range(calls):
        response = api.get(path)
        assert response.status_code == expect, response.text


def test_the_51st_call_in_an_hour_is_rate_limited(api):
    spend(api, LIMIT)

    response = api.get("/platform/platforms")

    body = assert_error(response, 429, "RATE_LIMITED")
    assert isinstance(body["retryAfter"], int)
    assert 0 < body["retryAfter"] <= WINDOW
    assert response.headers["Retry-After"] == str(body["retryAfter"])


def test_calls_that_answer_400_count_too(api):
    spend(api, LIMIT, "/post/history?page=zero", expect=400)

    assert_error(api.get("/user/api-key"), 429, "RATE_LIMITED")


def test_retry_after_is_when_the_oldest_call_leaves_the_window(sandbox, api):
    spend(api, LIMIT)
    sandbox.advance(1800)

    body = api.get("/user/api-key").json()

    assert WINDOW - 1800 - 15 <= body["retryAfter"] <= WINDOW - 1800 + 1


def test_calls_are_allowed_again_once_the_window_has_passed(sandbox, api):
    spend(api, LIMIT)
    assert api.get("/user/api-key").status_code == 429

    sandbox.advance(WINDOW + 1)

    assert api.get("/user/api-key").status_code == 200


def test_a_429_is_not_counted(sandbox, api):
    spend(api, LIMIT)
    sandbox.advance(1800)
    spend(api, 3, expect=429)  # had these counted, they would still be in the next window
    sandbox.advance(1801)  # the first 50 have left the window

    spend(api, LIMIT)


def test_a_new_key_does_not_reset_the_accounts_quota(sandbox, api):
    spend(api, LIMIT - 1)
    new_key = api.post("/user/api-key/generate").json()["data"]["apiKey"]  # call number 50

    response = Api(sandbox.base_url, new_key).get("/user/api-key")

    assert_error(response, 429, "RATE_LIMITED")


def test_accounts_have_separate_quotas(api, api_for):
    spend(api, LIMIT)

    assert api_for().get("/user/api-key").status_code == 200


def test_a_larger_plan_has_a_larger_limit(api_for):
    api = api_for(plan="INFLUENCER")

    spend(api, LIMIT + 1)


def test_concurrent_calls_never_get_past_the_limit(api):
    # Check-and-count is one locked step: 80 calls at once still let exactly 50 through.
    def call(_):
        return Api(api.base_url, api.key).get("/user/api-key").status_code

    with ThreadPoolExecutor(20) as pool:
        codes = Counter(pool.map(call, range(80)))

    assert codes == {200: LIMIT, 429: 80 - LIMIT}


def test_the_window_length_is_a_setting(tmp_path):
    with SandboxServer(tmp_path, rate_window_seconds=60) as short:
        account = short.create_account()
        api = Api(short.base_url, account["api_key"], account)
        spend(api, LIMIT)

        body = assert_error(api.get("/user/api-key"), 429, "RATE_LIMITED")
        assert 0 < body["retryAfter"] <= 60

        short.advance(61)
        assert api.get("/user/api-key").status_code == 200
