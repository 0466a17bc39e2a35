"""Keys: info, generate, revoke, 401 for bad keys, 403 for FREE, and only hashes at rest."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from tests.sandbox.conftest import Api

KEY = re.compile(r"taisly_[0-9a-f]{64}")


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["message"] == code
    assert isinstance(body["error"], str) and body["error"]
    return body


def parse_iso(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value)


def test_key_info_has_the_documented_shape(api):
    response = api.get("/user/api-key")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert set(data) == {"plan", "keyHint", "createdAt", "lastUsedAt", "rateLimit"}
    assert data["plan"] == "STARTER"
    assert data["rateLimit"] == 50
    assert data["keyHint"] == "taisly_…" + api.key[-4:]
    assert abs(parse_iso(data["createdAt"]) - datetime.now(UTC)) < timedelta(minutes=1)
    assert data["lastUsedAt"] is None  # the first call: no earlier use


def test_key_info_reports_the_previous_use(api):
    api.get("/platform/platforms")

    data = api.get("/user/api-key").json()["data"]

    assert data["lastUsedAt"] is not None
    assert parse_iso(data["lastUsedAt"]) >= parse_iso(data["createdAt"])


def test_key_hint_never_contains_the_full_key(api):
    body = api.get("/user/api-key").text

    assert api.key not in body
    assert api.key[7:] not in body  # nor its hex part
    assert api.key[-4:] in body


@pytest.mark.parametrize(("plan", "limit"), [("STARTER", 50), ("INFLUENCER", 200), ("PRO", 1000)])
def test_rate_limit_in_key_info_follows_the_plan(api_for, plan, limit):
    api = api_for(plan=plan)

    data = api.get("/user/api-key").json()["data"]

    assert (data["plan"], data["rateLimit"]) == (plan, limit)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer ",
        "Bearer taisly_" + "0" * 64,  # well-formed, unknown
        "Bearer taisly_" + "g" * 64,  # not hex
        "Bearer taisly_abc",
        "Basic dXNlcjpwYXNz",
    ],
)
def test_it_refuses_missing_unknown_or_malformed_keys(sandbox, authorization):
    api = Api(sandbox.base_url, None)
    headers = {} if authorization is None else {"Authorization": authorization}

    response = api.get("/platform/platforms", headers=headers)

    assert_error(response, 401, "INVALID_API_KEY")


def test_bearer_scheme_is_case_insensitive(api):
    response = api.get("/user/api-key", headers={"Authorization": f"bearer {api.key}"})

    assert response.status_code == 200


def test_generate_returns_a_new_key_and_the_old_one_stops_at_once(sandbox, api):
    response = api.post("/user/api-key/generate")

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert set(data) == {"apiKey", "keyHint", "plan", "createdAt"}
    assert KEY.fullmatch(data["apiKey"])
    assert data["apiKey"] != api.key
    assert data["keyHint"] == "taisly_…" + data["apiKey"][-4:]
    assert data["plan"] == "STARTER"
    assert_error(api.get("/user/api-key"), 401, "INVALID_API_KEY")
    fresh = Api(sandbox.base_url, data["apiKey"])
    assert fresh.get("/user/api-key").json()["data"]["keyHint"] == data["keyHint"]


def test_concurrent_regenerations_with_one_key_issue_one_live_key(sandbox, api):
    # Each request is authenticated before it regenerates; without a locked re-check, several
    # would pass and all but the last would hand out a key that is already revoked.
    key = api.key
    for _round in range(4):
        start = threading.Barrier(8)

        def regenerate(_, key=key, start=start):
            start.wait(timeout=10)
            return Api(sandbox.base_url, key).post("/user/api-key/generate")

        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(regenerate, range(8)))

        issued = [r.json()["data"]["apiKey"] for r in responses if r.status_code == 200]
        assert len(issued) == 1, [r.status_code for r in responses]
        for response in responses:
            if response.status_code != 200:
                assert_error(response, 401, "INVALID_API_KEY")
        key = issued[0]
        assert Api(sandbox.base_url, key).get("/user/api-key").status_code == 200


def test_a_regenerated_key_sees_the_same_platforms(sandbox, api):
    before = api.get("/platform/platforms").json()["data"]
    new_key = api.post("/user/api-key/generate").json()["data"]["apiKey"]

    after = Api(sandbox.base_url, new_key).get("/platform/platforms").json()["data"]

    assert after == before


def test_revoke_stops_the_key_at_once(api):
    response = api.post("/user/api-key/revoke")

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "data": {"revoked": True}}
    assert_error(api.get("/user/api-key"), 401, "INVALID_API_KEY")
    assert_error(api.post("/user/api-key/generate"), 401, "INVALID_API_KEY")


EVERY_OPERATION = [
    ("GET", "/user/api-key", {}),
    ("POST", "/user/api-key/generate", {}),
    ("POST", "/user/api-key/revoke", {}),
    ("GET", "/platform/platforms", {}),
    ("POST", "/post", {"data": {"platforms": "[]"}}),
    ("GET", "/post/history", {}),
    ("GET", "/post/cancelSchedule", {"params": {"id": "0" * 24}}),
    ("GET", "/reposts", {}),
    ("POST", "/repost/add", {"json": {"from": "a", "to": ["b"]}}),
    ("POST", "/repost/delete", {"json": {"id": "x"}}),
    ("POST", "/repost/pause", {"json": {"id": "x", "isPaused": True}}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), EVERY_OPERATION)
def test_free_plan_gets_403_on_every_operation(api_for, method, path, kwargs):
    api = api_for(plan="FREE")

    response = api.request(method, path, **kwargs)

    assert_error(response, 403, "PLAN_NOT_ALLOWED")


def test_a_free_key_still_exists_after_a_403(api_for):
    # The revoke above answered 403, so the key must not have been revoked.
    api = api_for(plan="FREE")
    api.post("/user/api-key/revoke")

    assert_error(api.get("/user/api-key"), 403, "PLAN_NOT_ALLOWED")


@pytest.mark.parametrize(("method", "path", "kwargs"), EVERY_OPERATION)
def test_a_revoked_key_gets_401_on_every_operation(api, method, path, kwargs):
    api.post("/user/api-key/revoke")

    response = api.request(method, path, **kwargs)

    assert_error(response, 401, "INVALID_API_KEY")


def _database_bytes(sandbox) -> bytes:
    files = [sandbox.db_path, *sandbox.db_path.parent.glob(sandbox.db_path.name + "-*")]
    return b"".join(path.read_bytes() for path in files if path.exists())


def test_keys_are_stored_only_as_sha256_hashes(sandbox, api):
    new_key = api.post("/user/api-key/generate").json()["data"]["apiKey"]
    Api(sandbox.base_url, new_key).get("/user/api-key")  # a write after the new key exists

    stored = _database_bytes(sandbox)
    for key in (api.key, new_key):
        assert key.encode() not in stored
        assert key[7:].encode() not in stored
    with sqlite3.connect(f"file:{sandbox.db_path}?mode=ro", uri=True) as db:
        hashes = {row[0] for row in db.execute("SELECT key_hash FROM sandbox_apikey")}
    for key in (api.key, new_key):
        assert hashlib.sha256(key.encode()).hexdigest() in hashes
