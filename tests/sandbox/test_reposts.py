"""Auto-repost rules: list, add (and its refusals), pause/resume, delete, and fan-out."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from tests.sandbox.conftest import Api
from tests.sandbox.test_keys import assert_error
from tests.sandbox.test_posts import statuses

OBJECT_ID = re.compile(r"[0-9a-f]{24}")


def add_rule(api, source: str, targets: list[str]) -> dict:
    ids = api.platform_ids
    response = api.post("/repost/add", json={"from": ids[source], "to": [ids[t] for t in targets]})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_add_returns_the_rule(api):
    ids = api.platform_ids

    response = api.post(
        "/repost/add", json={"from": ids["TikTok"], "to": [ids["X"], ids["YouTube"]]}
    )

    assert response.status_code == 200, response.text
    rule = response.json()["data"]
    assert set(rule) == {"_id", "from", "to", "isPaused", "createdAt"}
    assert OBJECT_ID.fullmatch(rule["_id"])
    assert rule["from"] == ids["TikTok"]
    assert rule["to"] == [ids["X"], ids["YouTube"]]
    assert rule["isPaused"] is False
    created = datetime.fromisoformat(rule["createdAt"])
    assert abs(created - datetime.now(UTC)) < timedelta(minutes=1)


def test_reposts_lists_the_accounts_rules(api, api_for):
    first = add_rule(api, "TikTok", ["X"])
    second = add_rule(api, "Instagram", ["Facebook"])
    add_rule(api_for(), "TikTok", ["X"])  # another account's rule stays invisible

    response = api.get("/reposts")

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "data": [first, second]}


def test_it_refuses_circular_rule(api):
    add_rule(api, "TikTok", ["X"])
    ids = api.platform_ids

    response = api.post("/repost/add", json={"from": ids["X"], "to": [ids["TikTok"]]})

    assert_error(response, 400, "CIRCULAR_REPOST")
    assert len(api.get("/reposts").json()["data"]) == 1


def test_concurrent_opposite_rules_never_both_exist(api_for):
    # Check-then-create runs under the account's lock, so A→B and B→A sent at the same moment
    # cannot both pass the circle check.
    api = api_for(plan="PRO")
    ids = api.platform_ids
    for _round in range(5):
        start = threading.Barrier(6)

        def add(n):
            source, target = ("TikTok", "X") if n % 2 else ("X", "TikTok")
            start.wait(timeout=10)
            body = {"from": ids[source], "to": [ids[target]]}
            return Api(api.base_url, api.key).post("/repost/add", json=body).status_code

        with ThreadPoolExecutor(6) as pool:
            codes = list(pool.map(add, range(6)))

        rules = api.get("/reposts").json()["data"]
        assert len({rule["from"] for rule in rules}) == 1, codes
        assert sorted(codes) == [200] * len(rules) + [400] * (6 - len(rules))
        for rule in rules:
            api.post("/repost/delete", json={"id": rule["_id"]})


def test_it_refuses_a_circle_hidden_among_several_targets(api):
    add_rule(api, "TikTok", ["Instagram", "X"])
    ids = api.platform_ids

    response = api.post(
        "/repost/add", json={"from": ids["X"], "to": [ids["YouTube"], ids["TikTok"]]}
    )

    assert_error(response, 400, "CIRCULAR_REPOST")


def test_a_paused_rule_still_counts_for_circles(api):
    rule = add_rule(api, "TikTok", ["X"])
    api.post("/repost/pause", json={"id": rule["_id"], "isPaused": True})
    ids = api.platform_ids

    response = api.post("/repost/add", json={"from": ids["X"], "to": [ids["TikTok"]]})

    assert_error(response, 400, "CIRCULAR_REPOST")


def test_the_reverse_rule_is_allowed_once_the_first_is_deleted(api):
    rule = add_rule(api, "TikTok", ["X"])
    api.post("/repost/delete", json={"id": rule["_id"]})

    add_rule(api, "X", ["TikTok"])


def test_it_refuses_a_rule_to_itself(api):
    ids = api.platform_ids

    response = api.post("/repost/add", json={"from": ids["X"], "to": [ids["TikTok"], ids["X"]]})

    assert_error(response, 400, "REPOST_TO_SELF")


def test_it_refuses_unknown_or_foreign_platforms(api, api_for):
    ids, foreign = api.platform_ids, api_for().platform_ids

    assert_error(
        api.post("/repost/add", json={"from": "f" * 24, "to": [ids["X"]]}),
        400,
        "PLATFORM_NOT_FOUND",
    )
    assert_error(
        api.post("/repost/add", json={"from": ids["X"], "to": [foreign["TikTok"]]}),
        400,
        "PLATFORM_NOT_FOUND",
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"from": "x"},
        {"to": ["x"]},
        {"from": 1, "to": ["x"]},
        {"from": "x", "to": "y"},
        {"from": "x", "to": []},
        {"from": "x", "to": [1]},
        ["from", "to"],
    ],
)
def test_add_refuses_a_malformed_body(api, body):
    assert_error(api.post("/repost/add", json=body), 400, "INVALID_BODY")


def test_add_refuses_a_body_that_is_not_json(api):
    response = api.post("/repost/add", data="from=x", headers={"Content-Type": "text/plain"})

    assert_error(response, 400, "INVALID_BODY")


def test_add_refuses_a_body_over_the_memory_limit(api):
    body = {"from": "x", "to": ["y"], "padding": "z" * 3_000_000}  # Django keeps 2.5 MB at most

    assert_error(api.post("/repost/add", json=body), 400, "INVALID_BODY")


def test_pause_and_resume(api):
    rule = add_rule(api, "TikTok", ["X"])

    paused = api.post("/repost/pause", json={"id": rule["_id"], "isPaused": True})
    assert paused.status_code == 200, paused.text
    assert paused.json()["data"] == {**rule, "isPaused": True}
    assert api.get("/reposts").json()["data"][0]["isPaused"] is True

    resumed = api.post("/repost/pause", json={"id": rule["_id"], "isPaused": False})
    assert resumed.json()["data"] == {**rule, "isPaused": False}
    assert api.get("/reposts").json()["data"][0]["isPaused"] is False


@pytest.mark.parametrize("body", [{}, {"isPaused": "yes"}, {"isPaused": 1}, {"isPaused": None}])
def test_pause_needs_a_boolean(api, body):
    rule = add_rule(api, "TikTok", ["X"])

    response = api.post("/repost/pause", json={"id": rule["_id"], **body})

    assert_error(response, 400, "INVALID_BODY")


def test_pause_of_an_unknown_rule_is_404(api):
    response = api.post("/repost/pause", json={"id": "0" * 24, "isPaused": True})

    assert_error(response, 404, "REPOST_NOT_FOUND")


def test_delete_removes_the_rule(api):
    rule = add_rule(api, "TikTok", ["X"])

    response = api.post("/repost/delete", json={"id": rule["_id"]})

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "data": {"id": rule["_id"], "deleted": True}}
    assert api.get("/reposts").json()["data"] == []
    assert_error(api.post("/repost/delete", json={"id": rule["_id"]}), 404, "REPOST_NOT_FOUND")


def test_delete_does_not_reach_another_accounts_rule(api, api_for):
    other = api_for()
    rule = add_rule(other, "TikTok", ["X"])

    assert_error(api.post("/repost/delete", json={"id": rule["_id"]}), 404, "REPOST_NOT_FOUND")
    assert len(other.get("/reposts").json()["data"]) == 1


def test_delete_needs_an_id(api):
    assert_error(api.post("/repost/delete", json={}), 400, "INVALID_BODY")


# --- Fan-out --------------------------------------------------------------------------------


def test_posting_to_a_rules_source_also_posts_to_its_targets(sandbox, api, videos):
    ids = api.platform_ids
    add_rule(api, "TikTok", ["Instagram", "YouTube"])

    body = api.create_post(videos["ok"], [ids["TikTok"], ids["YouTube"]]).json()

    # YouTube was targeted directly: it is not added a second time as a repost.
    assert [(r["platform"], r["repostOf"]) for r in body["result"]] == [
        ("TikTok", None),
        ("YouTube", None),
        ("Instagram", ids["TikTok"]),
    ]
    sandbox.advance(2)
    post = api.post_in_history(body["historyId"])
    assert [(r["platform"], r["status"], r["repostOf"]) for r in post["result"]] == [
        ("TikTok", "SUCCESS", None),
        ("YouTube", "SUCCESS", None),
        ("Instagram", "SUCCESS", ids["TikTok"]),
    ]


def test_two_rules_to_one_target_repost_it_once(api, videos):
    ids = api.platform_ids
    add_rule(api, "TikTok", ["Facebook"])
    add_rule(api, "X", ["Facebook"])

    body = api.create_post(videos["ok"], [ids["TikTok"], ids["X"]]).json()

    assert [r["platform"] for r in body["result"]] == ["TikTok", "X", "Facebook"]


def test_a_paused_rule_does_not_repost(api, videos):
    ids = api.platform_ids
    rule = add_rule(api, "TikTok", ["Instagram"])
    api.post("/repost/pause", json={"id": rule["_id"], "isPaused": True})

    body = api.create_post(videos["ok"], [ids["TikTok"]]).json()

    assert [r["platform"] for r in body["result"]] == ["TikTok"]


def test_reposts_are_one_level_deep(api, videos):
    ids = api.platform_ids
    add_rule(api, "TikTok", ["X"])
    add_rule(api, "X", ["Facebook"])

    body = api.create_post(videos["ok"], [ids["TikTok"]]).json()

    assert [r["platform"] for r in body["result"]] == ["TikTok", "X"]


def test_reposted_entries_fail_like_any_other(sandbox, api_for, videos):
    api = api_for(disconnected=["Instagram"])
    ids = api.platform_ids
    add_rule(api, "TikTok", ["Instagram", "X"])

    history_id = api.create_post(videos["ok"], [ids["TikTok"]], description="#fail:X").json()[
        "historyId"
    ]
    sandbox.advance(2)

    assert statuses(api.post_in_history(history_id)) == {
        "TikTok": ("SUCCESS", None),
        "Instagram": ("FAILED", "PLATFORM_DISCONNECTED"),
        "X": ("FAILED", "SANDBOX_FORCED_FAILURE"),
    }
