"""Creating posts, their validation, history (pages and time ranges), cancelling, statuses."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime

import pytest

from tests.sandbox.conftest import Api
from tests.sandbox.test_keys import assert_error

OBJECT_ID = re.compile(r"[0-9a-f]{24}")


def now_ms() -> int:
    return int(time.time() * 1000)


def iso_ms(value: str) -> int:
    return int(datetime.fromisoformat(value).timestamp() * 1000)


def statuses(post: dict) -> dict[str, tuple[str, str | None]]:
    return {r["platform"]: (r["status"], r["message"]) for r in post["result"]}


# --- Platforms ------------------------------------------------------------------------------


def test_platforms_lists_the_accounts_connected_platforms(api_for):
    api = api_for(platforms=["TikTok", "Instagram", "X"], disconnected=["X"])

    response = api.get("/platform/platforms")

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [p["platform"] for p in data] == ["TikTok", "Instagram", "X"]
    for item in data:
        assert set(item) == {"_id", "platform", "name", "avatar", "connected"}
        assert OBJECT_ID.fullmatch(item["_id"])
        assert item["name"].startswith("@")
    assert [p["connected"] for p in data] == [True, True, False]


def test_accounts_never_see_each_others_platforms(api, api_for):
    other = api_for()

    mine = {p["_id"] for p in api.get("/platform/platforms").json()["data"]}
    theirs = {p["_id"] for p in other.get("/platform/platforms").json()["data"]}

    assert mine and theirs and not mine & theirs


# --- Create ---------------------------------------------------------------------------------


def test_create_post_answers_at_top_level(api, videos):
    ids = api.platform_ids
    before = now_ms()

    response = api.create_post(videos["ok"], [ids["TikTok"], ids["YouTube"]], description="hi")

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"success", "historyId", "scheduled", "date", "result"}
    assert body["success"] is True
    assert OBJECT_ID.fullmatch(body["historyId"])
    assert body["scheduled"] is False
    assert before - 1000 <= iso_ms(body["date"]) <= now_ms() + 1000
    assert [(r["platformId"], r["platform"], r["status"]) for r in body["result"]] == [
        (ids["TikTok"], "TikTok", "PENDING"),
        (ids["YouTube"], "YouTube", "PENDING"),
    ]


def test_created_post_appears_in_history_with_the_documented_shape(api, videos):
    ids = api.platform_ids
    history_id = api.create_post(
        videos["ok"], [ids["Instagram"]], description="caption", previewTime="1.5"
    ).json()["historyId"]

    post = api.post_in_history(history_id)

    assert set(post) == {
        "id", "description", "date", "createdAt", "scheduled", "scheduledAt", "previewTime",
        "result",
    }  # fmt: skip
    assert post["description"] == "caption"
    assert post["previewTime"] == 1.5
    assert post["scheduled"] is False
    assert post["scheduledAt"] is None
    assert post["date"] == post["createdAt"]
    assert post["result"] == [
        {
            "platformId": ids["Instagram"],
            "platform": "Instagram",
            "status": post["result"][0]["status"],
            "message": None,
            "repostOf": None,
        }
    ]


def test_a_scheduled_post_is_due_at_its_time(api, videos):
    due = now_ms() + 3_600_000

    body = api.create_post(videos["ok"], [api.platform_ids["X"]], scheduled=due).json()

    assert body["scheduled"] is True
    assert iso_ms(body["date"]) == due
    post = api.post_in_history(body["historyId"])
    assert post["scheduledAt"] == due
    assert iso_ms(post["date"]) == due


def test_a_scheduled_time_in_the_past_means_post_now(api, videos):
    body = api.create_post(videos["ok"], [api.platform_ids["X"]], scheduled=1_000).json()

    assert body["scheduled"] is False
    assert abs(iso_ms(body["date"]) - now_ms()) < 5_000


def test_repeated_platform_ids_post_once(api, videos):
    tiktok = api.platform_ids["TikTok"]

    body = api.create_post(videos["ok"], [tiktok, tiktok]).json()

    assert [r["platformId"] for r in body["result"]] == [tiktok]


def test_create_post_accepts_other_containers(api, videos):
    body = api.create_post(videos["webm"], [api.platform_ids["TikTok"]]).json()

    assert body["success"] is True


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("no video", "VIDEO_REQUIRED"),
        ("no platforms", "PLATFORMS_REQUIRED"),
        ("empty platforms", "PLATFORMS_REQUIRED"),
        ("platforms not json", "PLATFORMS_INVALID"),
        ("platforms an object", "PLATFORMS_INVALID"),
        ("platforms of numbers", "PLATFORMS_INVALID"),
        ("unknown platform", "PLATFORM_NOT_FOUND"),
        ("description too long", "DESCRIPTION_TOO_LONG"),
        ("scheduled not a number", "SCHEDULED_INVALID"),
        ("scheduled negative", "SCHEDULED_INVALID"),
        ("scheduled zero", "SCHEDULED_INVALID"),
        ("scheduled fractional", "SCHEDULED_INVALID"),
        ("scheduled in seconds as float", "SCHEDULED_INVALID"),
        ("previewTime not a number", "PREVIEW_TIME_INVALID"),
        ("previewTime negative", "PREVIEW_TIME_INVALID"),
    ],
)
def test_create_post_refuses_bad_fields(api, videos, case, code):
    tiktok = [api.platform_ids["TikTok"]]
    video = videos["ok"]
    calls = {
        "no video": lambda: api.create_post(None, tiktok),
        "no platforms": lambda: api.create_post(video, None, raw_platforms=""),
        "empty platforms": lambda: api.create_post(video, []),
        "platforms not json": lambda: api.create_post(video, None, raw_platforms="[abc"),
        "platforms an object": lambda: api.create_post(video, {"id": tiktok[0]}),
        "platforms of numbers": lambda: api.create_post(video, [1, 2]),
        "unknown platform": lambda: api.create_post(video, [*tiktok, "f" * 24]),
        "description too long": lambda: api.create_post(video, tiktok, description="a" * 2201),
        "scheduled not a number": lambda: api.create_post(video, tiktok, scheduled="tomorrow"),
        "scheduled negative": lambda: api.create_post(video, tiktok, scheduled=-5),
        "scheduled zero": lambda: api.create_post(video, tiktok, scheduled=0),
        "scheduled fractional": lambda: api.create_post(video, tiktok, scheduled="1.5"),
        "scheduled in seconds as float": lambda: api.create_post(
            video, tiktok, scheduled=time.time()
        ),
        "previewTime not a number": lambda: api.create_post(video, tiktok, previewTime="soon"),
        "previewTime negative": lambda: api.create_post(video, tiktok, previewTime="-1"),
    }

    assert_error(calls[case](), 400, code)
    assert api.history()["total"] == 0


def test_a_description_of_exactly_2200_characters_is_accepted(api, videos):
    response = api.create_post(videos["ok"], [api.platform_ids["TikTok"]], description="a" * 2200)

    assert response.status_code == 200, response.text


def test_it_refuses_another_accounts_platform(api, api_for, videos):
    other = api_for()

    response = api.create_post(videos["ok"], [other.platform_ids["TikTok"]])

    assert_error(response, 400, "PLATFORM_NOT_FOUND")


def test_a_json_body_instead_of_multipart_is_video_required(api):
    response = api.post("/post", json={"platforms": [api.platform_ids["TikTok"]]})

    assert_error(response, 400, "VIDEO_REQUIRED")


def test_uploaded_files_are_deleted_after_probing(sandbox, api, videos):
    response = api.create_post(videos["ok"], [api.platform_ids["TikTok"]])
    assert response.status_code == 200

    last = sandbox.state()["lastUpload"]
    assert last["path"].startswith(str(sandbox.upload_dir))  # it was streamed to a temp file
    assert last["size"] == videos["ok"].stat().st_size
    assert last["exists"] is False
    assert list(sandbox.upload_dir.iterdir()) == []


def test_uploaded_files_are_deleted_when_the_post_is_refused(sandbox, api, videos):
    response = api.create_post(videos["ok"], None, raw_platforms="not json")
    assert response.status_code == 400

    assert list(sandbox.upload_dir.iterdir()) == []


# --- Statuses -------------------------------------------------------------------------------


def test_status_goes_from_pending_to_success_after_the_publish_delay(sandbox, api, videos):
    due = now_ms() + 60_000
    history_id = api.create_post(videos["ok"], [api.platform_ids["TikTok"]], scheduled=due).json()[
        "historyId"
    ]
    assert statuses(api.post_in_history(history_id)) == {"TikTok": ("PENDING", None)}

    sandbox.advance(60)  # due, but not yet published (SANDBOX_PUBLISH_SECONDS=1)
    assert statuses(api.post_in_history(history_id)) == {"TikTok": ("PENDING", None)}

    sandbox.advance(2)
    assert statuses(api.post_in_history(history_id)) == {"TikTok": ("SUCCESS", None)}


def test_an_immediate_post_succeeds_after_the_publish_delay(sandbox, api, videos):
    ids = api.platform_ids
    history_id = api.create_post(videos["ok"], [ids["TikTok"], ids["X"]]).json()["historyId"]

    sandbox.advance(2)

    assert statuses(api.post_in_history(history_id)) == {
        "TikTok": ("SUCCESS", None),
        "X": ("SUCCESS", None),
    }


@pytest.mark.parametrize(
    ("video", "code"),
    [
        ("short", "VIDEO_TOO_SHORT"),
        ("long", "VIDEO_TOO_LONG"),
        ("landscape", "VIDEO_NOT_VERTICAL"),
        ("square", "VIDEO_NOT_VERTICAL"),
        ("noise", "VIDEO_UNREADABLE"),
    ],
)
def test_a_bad_video_fails_on_every_platform(sandbox, api, videos, video, code):
    ids = api.platform_ids
    body = api.create_post(videos[video], [ids["TikTok"], ids["Facebook"]]).json()
    assert [r["status"] for r in body["result"]] == ["PENDING", "PENDING"]

    sandbox.advance(2)

    assert statuses(api.post_in_history(body["historyId"])) == {
        "TikTok": ("FAILED", code),
        "Facebook": ("FAILED", code),
    }


def test_a_video_within_two_percent_of_nine_by_sixteen_is_vertical(sandbox, api, videos):
    history_id = api.create_post(videos["nearly_vertical"], [api.platform_ids["TikTok"]]).json()[
        "historyId"
    ]

    sandbox.advance(2)

    assert statuses(api.post_in_history(history_id)) == {"TikTok": ("SUCCESS", None)}


def test_a_disconnected_platform_fails_alone(sandbox, api_for, videos):
    api = api_for(disconnected=["Instagram"])
    ids = api.platform_ids
    history_id = api.create_post(videos["ok"], [ids["TikTok"], ids["Instagram"]]).json()[
        "historyId"
    ]

    sandbox.advance(2)

    assert statuses(api.post_in_history(history_id)) == {
        "TikTok": ("SUCCESS", None),
        "Instagram": ("FAILED", "PLATFORM_DISCONNECTED"),
    }


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("launch day #fail", {"TikTok": "FAILED", "X": "FAILED", "YouTube": "FAILED"}),
        ("#FAIL now", {"TikTok": "FAILED", "X": "FAILED", "YouTube": "FAILED"}),
        ("oops #fail:TikTok", {"TikTok": "FAILED", "X": "SUCCESS", "YouTube": "SUCCESS"}),
        ("#fail:x and #fail:youtube", {"TikTok": "SUCCESS", "X": "FAILED", "YouTube": "FAILED"}),
        (
            "#fail:Myspace is no network",
            {"TikTok": "SUCCESS", "X": "SUCCESS", "YouTube": "SUCCESS"},
        ),
        (
            "#failure, #failed: other tags",
            {"TikTok": "SUCCESS", "X": "SUCCESS", "YouTube": "SUCCESS"},
        ),
    ],
)
def test_fail_tags_force_failures(sandbox, api, videos, description, expected):
    ids = api.platform_ids
    history_id = api.create_post(
        videos["ok"], [ids["TikTok"], ids["X"], ids["YouTube"]], description=description
    ).json()["historyId"]

    sandbox.advance(2)

    result = statuses(api.post_in_history(history_id))
    assert {network: status for network, (status, _m) in result.items()} == expected
    for status, message in result.values():
        assert message == ("SANDBOX_FORCED_FAILURE" if status == "FAILED" else None)


def test_video_too_large_fails_every_platform(tmp_path, videos):
    from tests.sandbox_server import SandboxServer

    # The 4 s test video is ~6 KB; a 1 KiB limit makes it "too large" without uploading 500 MB.
    with SandboxServer(tmp_path, env={"SANDBOX_MAX_VIDEO_MB": "0.001"}) as small:
        account = small.create_account(platforms=["TikTok", "X"])
        api = Api(small.base_url, account["api_key"], account)
        history_id = api.create_post(videos["ok"], list(api.platform_ids.values())).json()[
            "historyId"
        ]

        small.advance(2)

        assert statuses(api.post_in_history(history_id)) == {
            "TikTok": ("FAILED", "VIDEO_TOO_LARGE"),
            "X": ("FAILED", "VIDEO_TOO_LARGE"),
        }


# --- History --------------------------------------------------------------------------------


def _post_many(api: Api, video, count: int) -> list[str]:
    tiktok = [api.platform_ids["TikTok"]]
    return [
        api.create_post(video, tiktok, description=f"post {n}").json()["historyId"]
        for n in range(count)
    ]


def test_history_pages_hold_ten_posts_newest_first(api, videos):
    created = _post_many(api, videos["ok"], 12)

    first, second = api.history(page=1), api.history(page=2)

    assert (first["page"], first["totalPages"], first["total"]) == (1, 2, 12)
    assert (second["page"], second["totalPages"], second["total"]) == (2, 2, 12)
    assert [p["id"] for p in first["data"]] == created[::-1][:10]
    assert [p["id"] for p in second["data"]] == created[::-1][10:]
    assert api.history(page=3)["data"] == []


def test_history_without_page_is_page_one(api, videos):
    created = _post_many(api, videos["ok"], 2)

    body = api.history()

    assert [p["id"] for p in body["data"]] == created[::-1]
    assert (body["page"], body["totalPages"], body["total"]) == (1, 1, 2)


def test_empty_history_is_one_empty_page(api):
    assert api.history() == {"success": True, "data": [], "page": 1, "totalPages": 1, "total": 0}


def test_history_orders_by_due_time_not_creation(api, videos):
    tiktok = [api.platform_ids["TikTok"]]
    later = api.create_post(videos["ok"], tiktok, scheduled=now_ms() + 600_000).json()
    now = api.create_post(videos["ok"], tiktok).json()

    assert [p["id"] for p in api.history()["data"]] == [later["historyId"], now["historyId"]]


def test_history_time_range_includes_its_bounds_and_excludes_the_rest(api, videos):
    tiktok = [api.platform_ids["TikTok"]]
    base = now_ms() + 3_600_000
    ids = [
        api.create_post(videos["ok"], tiktok, scheduled=base + offset).json()["historyId"]
        for offset in (0, 10_000, 20_000, 30_000)
    ]

    inside = api.history(startTime=base + 10_000, endTime=base + 20_000)
    everything = api.history(startTime=0, endTime=base + 30_000)
    none = api.history(startTime=base + 30_001, endTime=base + 40_000)

    assert [p["id"] for p in inside["data"]] == [ids[2], ids[1]]
    assert inside["total"] == 2
    assert [p["id"] for p in everything["data"]] == ids[::-1]
    assert none["data"] == []


def test_history_time_range_is_not_paginated(api, videos):
    _post_many(api, videos["ok"], 12)

    body = api.history(startTime=now_ms() - 600_000, endTime=now_ms() + 600_000)

    assert len(body["data"]) == 12


@pytest.mark.parametrize(
    "params",
    [
        {"page": "0"},
        {"page": "-1"},
        {"page": "two"},
        {"page": "1.5"},
        {"startTime": "abc", "endTime": "1"},
        {"startTime": "1"},
        {"endTime": "1"},
        {"startTime": "10", "endTime": "5"},
        {"startTime": "-10", "endTime": "5"},
    ],
)
def test_history_refuses_bad_numbers(api, params):
    assert_error(api.get("/post/history", params=params), 400, "INVALID_QUERY")


# --- Cancel ---------------------------------------------------------------------------------


def test_cancel_deletes_a_scheduled_post(api, videos):
    history_id = api.create_post(
        videos["ok"], [api.platform_ids["TikTok"]], scheduled=now_ms() + 600_000
    ).json()["historyId"]

    response = api.get("/post/cancelSchedule", params={"id": history_id})

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "data": {"id": history_id, "cancelled": True}}
    assert api.history()["data"] == []
    assert_error(api.get("/post/cancelSchedule", params={"id": history_id}), 404, "POST_NOT_FOUND")


def test_cancel_refuses_an_immediate_post(api, videos):
    history_id = api.create_post(videos["ok"], [api.platform_ids["TikTok"]]).json()["historyId"]

    response = api.get("/post/cancelSchedule", params={"id": history_id})

    assert_error(response, 400, "POST_NOT_SCHEDULED")
    assert api.history()["total"] == 1


def test_cancel_refuses_a_scheduled_post_that_is_already_due(sandbox, api, videos):
    history_id = api.create_post(
        videos["ok"], [api.platform_ids["TikTok"]], scheduled=now_ms() + 60_000
    ).json()["historyId"]
    sandbox.advance(61)

    response = api.get("/post/cancelSchedule", params={"id": history_id})

    assert_error(response, 400, "POST_NOT_SCHEDULED")
    assert api.history()["total"] == 1


def test_cancel_does_not_find_another_accounts_post(api, api_for, videos):
    other = api_for()
    history_id = other.create_post(
        videos["ok"], [other.platform_ids["TikTok"]], scheduled=now_ms() + 600_000
    ).json()["historyId"]

    response = api.get("/post/cancelSchedule", params={"id": history_id})

    assert_error(response, 404, "POST_NOT_FOUND")
    assert other.history()["total"] == 1


def test_cancel_needs_an_id(api):
    assert_error(api.get("/post/cancelSchedule"), 400, "INVALID_QUERY")


def test_platforms_field_order_is_kept_in_the_result(api, videos):
    ids = api.platform_ids
    wanted = [ids["Facebook"], ids["TikTok"], ids["Instagram"]]

    body = api.create_post(videos["ok"], None, raw_platforms=json.dumps(wanted)).json()

    assert [r["platformId"] for r in body["result"]] == wanted


# --- X's caption limit ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "x_expected"),
    [(100, ("SUCCESS", None)), (101, ("FAILED", "DESCRIPTION_TOO_LONG"))],
)
def test_x_fails_alone_on_a_caption_over_100_characters(sandbox, api, videos, length, x_expected):
    ids = api.platform_ids
    # Multi-byte characters: the limit counts characters, not bytes.
    description = ("é" * length)[:length]
    response = api.create_post(
        videos["ok"], [ids["X"], ids["TikTok"], ids["Instagram"]], description=description
    )
    assert response.status_code == 200, response.text

    sandbox.advance(2)

    assert statuses(api.post_in_history(response.json()["historyId"])) == {
        "X": x_expected,
        "TikTok": ("SUCCESS", None),
        "Instagram": ("SUCCESS", None),
    }


def test_a_too_long_caption_on_a_disconnected_x_reports_the_disconnection(sandbox, api_for, videos):
    api = api_for(platforms=["X", "TikTok"], disconnected=["X"])
    ids = api.platform_ids
    history_id = api.create_post(
        videos["ok"], [ids["X"], ids["TikTok"]], description="x" * 150
    ).json()["historyId"]

    sandbox.advance(2)

    assert statuses(api.post_in_history(history_id)) == {
        "X": ("FAILED", "PLATFORM_DISCONNECTED"),
        "TikTok": ("SUCCESS", None),
    }


def test_an_x_repost_of_a_long_caption_fails_on_x_only(sandbox, api, videos):
    ids = api.platform_ids
    rule = api.post("/repost/add", json={"from": ids["TikTok"], "to": [ids["X"]]})
    assert rule.status_code == 200, rule.text
    history_id = api.create_post(videos["ok"], [ids["TikTok"]], description="y" * 120).json()[
        "historyId"
    ]

    sandbox.advance(2)

    assert statuses(api.post_in_history(history_id)) == {
        "TikTok": ("SUCCESS", None),
        "X": ("FAILED", "DESCRIPTION_TOO_LONG"),
    }


@pytest.mark.parametrize(
    ("description", "held"),
    [("stuck #pending", True), ("#PENDING", True), ("#pendingly", False), ("#pending:x", False)],
)
def test_a_pending_tag_keeps_every_platform_pending(sandbox, api, videos, description, held):
    ids = api.platform_ids
    history_id = api.create_post(
        videos["ok"], [ids["TikTok"], ids["X"]], description=description
    ).json()["historyId"]

    sandbox.advance(86400)

    expected = ("PENDING", None) if held else ("SUCCESS", None)
    assert statuses(api.post_in_history(history_id)) == {"TikTok": expected, "X": expected}
