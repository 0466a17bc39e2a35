"""The Taisly client on its own: tolerant reading of every answer shape, error typing, key hygiene.

The readers in ``posting.taisly.parse`` are tested directly. ``responses`` stands in for Taisly
only for what the sandbox cannot produce (the alternative shapes, ``success: false`` in a 200, a
redirect, odd Retry-After headers); everything else is in tests/integration.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import socket
from datetime import UTC, datetime, timedelta, timezone

import pytest
import responses
from requests_toolbelt import MultipartEncoder
from responses import matchers

from posting.taisly import (
    CallRecord,
    GeneratedKey,
    TaislyAuthError,
    TaislyClient,
    TaislyError,
    TaislyForbidden,
    TaislyProtocolError,
    TaislyRateLimited,
    TaislyRejected,
    TaislyServerError,
    TaislyUnavailable,
    key_hint,
    parse,
    taisly_call,
    unix_ms,
)
from posting.taisly.client import UPLOAD_BLOCK_BYTES, MultipartBody
from posting.taisly.errors import scrub

BASE = "https://taisly.test/api/private"
KEY = "taisly_" + "0123456789abcdef" * 4
NEW_KEY = "taisly_" + "fedcba9876543210" * 4
ISO = "2025-03-01T10:00:00.000Z"
WHEN = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
WHEN_MS = 1740823200000


@pytest.fixture
def client():
    with TaislyClient(KEY, base_url=BASE, timeout=(1, 2)) as client:
        yield client


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def records():
    seen: list[CallRecord] = []

    def receiver(sender, record, context, **kwargs):
        seen.append(record)

    taisly_call.connect(receiver, weak=False)
    yield seen
    taisly_call.disconnect(receiver)


def assert_no_key(*texts: object) -> None:
    for text in texts:
        assert KEY not in str(text)
        assert KEY[7:] not in str(text)  # not even without its prefix


# --- Timestamps --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        ISO,
        "2025-03-01T10:00:00Z",
        "2025-03-01T17:00:00+07:00",
        "2025-03-01T10:00:00",
        WHEN_MS,
        float(WHEN_MS),
        str(WHEN_MS),
        WHEN_MS // 1000,
    ],
)
def test_it_reads_iso_and_unix_times_as_aware_utc(value):
    moment = parse.timestamp(value)
    assert moment == WHEN
    assert moment.tzinfo == UTC


def test_it_reads_absent_times_as_none():
    assert parse.timestamp(None) is None
    assert parse.timestamp("") is None


def test_it_refuses_unreadable_times():
    with pytest.raises(parse.Malformed):
        parse.timestamp("next tuesday")


def test_unix_ms_refuses_naive_times():
    assert unix_ms(WHEN) == WHEN_MS
    assert unix_ms(WHEN.astimezone(timezone(timedelta(hours=7)))) == WHEN_MS
    with pytest.raises(ValueError):
        unix_ms(datetime(2025, 3, 1, 10, 0))


# --- Tolerant readers --------------------------------------------------------------------------


def test_it_reads_platform_id_from_id_or__id():
    a, b = parse.platforms(
        {"data": [{"_id": "p1", "platform": "TikTok"}, {"id": "p2", "platform": "X"}]}
    )
    assert (a.id, b.id) == ("p1", "p2")


@pytest.mark.parametrize("key", ["platform", "identifier", "accountType"])
def test_it_reads_the_network_from_any_of_its_names(key):
    (platform,) = parse.platforms({"data": [{"_id": "p1", key: "Instagram"}]})
    assert platform.network == "Instagram"


def test_it_reads_a_platform_list_at_the_top_level_or_in_data():
    item = {"_id": "p1", "platform": "TikTok", "name": "@demo", "avatar": None, "connected": True}
    assert parse.platforms([item]) == parse.platforms({"success": True, "data": [item]})
    assert parse.platforms({"success": True, "platforms": [item]})[0].id == "p1"


def test_a_platform_without_connected_counts_as_connected():
    (platform,) = parse.platforms([{"_id": "p1", "platform": "X"}])
    assert platform.connected is True
    assert platform.name == ""
    assert platform.raw == {"_id": "p1", "platform": "X"}


def test_a_platform_without_any_id_is_a_protocol_error():
    with pytest.raises(parse.Malformed):
        parse.platforms({"data": [{"platform": "TikTok"}]})


def test_an_answer_without_a_list_is_a_protocol_error():
    with pytest.raises(parse.Malformed):
        parse.platforms({"success": True})


@pytest.mark.parametrize(
    "body",
    [
        {
            "success": True,
            "historyId": "h1",
            "scheduled": False,
            "date": ISO,
            "result": [{"platformId": "p1", "platform": "TikTok", "status": "PENDING"}],
        },
        {
            "success": True,
            "id": "h1",
            "date": WHEN_MS,
            "result": [{"platformId": "p1", "platform": "TikTok", "status": "PENDING"}],
        },
        {
            "success": True,
            "data": {
                "id": "h1",
                "scheduled": False,
                "date": ISO,
                "result": [{"platformId": "p1", "platform": "TikTok", "status": "pending"}],
            },
        },
    ],
)
def test_it_reads_the_created_post_id_from_historyid_id_or_data_id(body):
    post = parse.created_post(body, asked_scheduled=False)
    assert post.id == "h1"
    assert post.scheduled is False
    assert post.date == WHEN
    assert [(r.platform_id, r.network, r.status) for r in post.results] == [
        ("p1", "TikTok", "PENDING")
    ]


def test_a_created_post_without_scheduled_takes_what_was_asked():
    assert parse.created_post({"historyId": "h1"}, asked_scheduled=True).scheduled is True


def test_a_created_post_without_an_id_is_a_protocol_error():
    with pytest.raises(parse.Malformed):
        parse.created_post({"success": True, "scheduled": False}, asked_scheduled=False)


HISTORY_ITEM = {
    "id": "h1",
    "description": "Launch",
    "date": ISO,
    "createdAt": WHEN_MS - 60_000,
    "scheduled": True,
    "scheduledAt": WHEN_MS,
    "previewTime": 2.5,
    "result": [
        {
            "platformId": "p1",
            "platform": "TikTok",
            "status": "FAILED",
            "message": "VIDEO_TOO_LONG",
            "repostOf": None,
        },
        {
            "platformId": "p2",
            "platform": "X",
            "status": "SUCCESS",
            "message": None,
            "repostOf": "h0",
        },
    ],
}


def test_it_reads_a_history_page():
    page = parse.history_page(
        {"success": True, "data": [HISTORY_ITEM], "page": 2, "totalPages": 3, "total": 21}, page=2
    )
    assert (page.page, page.total_pages, page.total, page.has_next) == (2, 3, 21, True)
    (post,) = page.posts
    assert post.id == "h1"
    assert post.date == WHEN == post.scheduled_at
    assert post.created_at == WHEN - timedelta(minutes=1)
    assert post.scheduled is True
    assert post.preview_time == 2.5
    failed, reposted = post.results
    assert (failed.status, failed.message, failed.repost_of) == ("FAILED", "VIDEO_TOO_LONG", None)
    assert (reposted.network, reposted.repost_of) == ("X", "h0")


def test_a_history_page_without_paging_fields_keeps_the_asked_page():
    page = parse.history_page([{"_id": "h1", "result": []}], page=4)
    assert (page.page, page.total_pages, page.total, page.has_next) == (4, None, None, False)
    assert page.posts[0].scheduled is False
    assert page.posts[0].preview_time == 0


def test_a_scheduled_field_holding_the_time_is_read_as_the_time():
    (post,) = parse.history_posts({"data": [{"id": "h1", "scheduled": ISO}]})
    assert post.scheduled is True
    assert post.scheduled_at == WHEN


def test_a_result_without_status_is_a_protocol_error():
    with pytest.raises(parse.Malformed):
        parse.history_posts({"data": [{"id": "h1", "result": [{"platformId": "p1"}]}]})


def test_it_reads_repost_rules_with_either_id():
    rules = parse.repost_rules(
        {
            "data": [
                {
                    "_id": "r1",
                    "from": "p1",
                    "to": ["p2", "p3"],
                    "isPaused": False,
                    "createdAt": ISO,
                },
                {"id": "r2", "from": "p2", "to": "p4", "paused": True},
            ]
        }
    )
    assert [(r.id, r.from_platform, r.to_platforms, r.paused) for r in rules] == [
        ("r1", "p1", ("p2", "p3"), False),
        ("r2", "p2", ("p4",), True),
    ]
    assert rules[0].created_at == WHEN


def test_a_single_rule_comes_from_data_or_rule():
    item = {"_id": "r1", "from": "p1", "to": ["p2"], "isPaused": True}
    assert parse.single_rule({"data": item}) == parse.single_rule({"rule": item})
    assert parse.single_rule(item).paused is True


def test_key_info_needs_a_plan():
    info = parse.key_info(
        {
            "data": {
                "plan": "PRO",
                "keyHint": "taisly_…a1b2",
                "createdAt": ISO,
                "lastUsedAt": None,
                "rateLimit": 1000,
            }
        }
    )
    assert (info.plan, info.key_hint, info.created_at, info.last_used_at, info.rate_limit) == (
        "PRO",
        "taisly_…a1b2",
        WHEN,
        None,
        1000,
    )
    with pytest.raises(parse.Malformed):
        parse.key_info({"data": {"keyHint": "taisly_…a1b2"}})


def test_a_generated_key_never_shows_in_repr():
    generated = parse.generated_key({"data": {"apiKey": NEW_KEY, "plan": "STARTER"}})
    assert generated.api_key == NEW_KEY
    assert generated.key_hint == key_hint(NEW_KEY) == "taisly_…3210"
    assert_no_key(repr(generated), str(generated))
    assert NEW_KEY not in repr(generated)


# --- The client over (mocked) HTTP: shapes the sandbox does not produce ------------------------


def test_it_sends_the_key_only_in_the_authorization_header(client, api):
    api.get(f"{BASE}/platform/platforms", json={"success": True, "data": []})
    assert client.platforms() == ()
    (call,) = api.calls
    assert call.request.headers["Authorization"] == f"Bearer {KEY}"
    assert KEY not in call.request.url


def test_it_does_not_touch_a_shared_session(api):
    import requests

    class Session(requests.Session):
        closed = False

        def close(self):
            self.closed = True
            super().close()

    session = Session()
    api.get(f"{BASE}/reposts", json=[])
    with TaislyClient(KEY, base_url=BASE, session=session) as client:
        client.reposts()
    assert "Authorization" not in session.headers
    assert not session.closed  # not the client's to close


def test_it_reads_top_level_platforms_with_identifier(client, api):
    api.get(f"{BASE}/platform/platforms", json=[{"id": "p9", "identifier": "YouTube"}])
    (platform,) = client.platforms()
    assert (platform.id, platform.network) == ("p9", "YouTube")


def test_success_false_in_a_200_is_rejected(client, api, records):
    api.post(
        f"{BASE}/repost/add",
        json={"success": False, "message": "CIRCULAR_REPOST", "detailMessage": "B already → A."},
        match=[matchers.json_params_matcher({"from": "a", "to": ["b"]})],
    )
    with pytest.raises(TaislyRejected) as caught:
        client.repost_add("a", ["b"])
    error = caught.value
    assert (error.status, error.code, error.detail) == (200, "CIRCULAR_REPOST", "B already → A.")
    assert error.endpoint == "POST /repost/add"
    assert not error.transient
    assert records[-1].error_code == "CIRCULAR_REPOST"
    assert records[-1].status == 200


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        ("INVALID_API_KEY", TaislyAuthError),
        ("PLAN_NOT_ALLOWED", TaislyForbidden),
        ("RATE_LIMITED", TaislyRateLimited),
    ],
)
def test_success_false_in_a_200_with_a_known_code_is_typed_by_it(client, api, code, error_type):
    api.get(f"{BASE}/reposts", json={"success": False, "message": code, "retryAfter": 9})
    with pytest.raises(error_type):
        client.reposts()


def test_an_answer_that_is_not_json_is_a_protocol_error(client, api, records):
    api.get(f"{BASE}/reposts", body="<html>Bad gateway</html>", content_type="text/html")
    with pytest.raises(TaislyProtocolError) as caught:
        client.reposts()
    assert caught.value.status == 200
    assert caught.value.ambiguous is True  # Taisly said 200: it may well have acted
    assert "text/html" in str(caught.value)
    assert records[-1].error_code == "BAD_RESPONSE"


def test_an_empty_200_is_a_protocol_error(client, api):
    api.get(f"{BASE}/reposts", body="")
    with pytest.raises(TaislyProtocolError):
        client.reposts()


def test_an_answer_missing_what_is_needed_is_a_protocol_error(client, api):
    api.get(f"{BASE}/user/api-key", json={"success": True, "data": {"keyHint": "x"}})
    with pytest.raises(TaislyProtocolError, match="plan"):
        client.key_info()


def test_a_created_post_in_data_is_read(client, api, tmp_path):
    video = tmp_path / "clip.mov"
    video.write_bytes(b"\0" * 1000)
    api.post(f"{BASE}/post", json={"success": True, "data": {"id": "h7", "result": []}})
    assert client.create_post(video, platforms=["p1"]).id == "h7"


@pytest.mark.parametrize(
    ("status", "body", "error_type"),
    [
        (
            400,
            {"success": False, "message": "POST_NOT_SCHEDULED", "error": "Not scheduled."},
            TaislyRejected,
        ),
        (404, {"success": False, "message": "POST_NOT_FOUND"}, TaislyRejected),
        (409, None, TaislyRejected),
        (401, {"success": False, "message": "INVALID_API_KEY"}, TaislyAuthError),
        (403, {"success": False, "message": "PLAN_NOT_ALLOWED"}, TaislyForbidden),
        (500, None, TaislyServerError),
        (503, {"success": False, "message": "MAINTENANCE"}, TaislyServerError),
        (302, None, TaislyProtocolError),
    ],
)
def test_statuses_map_to_error_types(client, api, status, body, error_type):
    if body is None:
        api.get(
            f"{BASE}/post/cancelSchedule",
            status=status,
            body="oops",
            headers={"Location": "https://elsewhere.test/"} if status == 302 else {},
        )
    else:
        api.get(f"{BASE}/post/cancelSchedule", status=status, json=body)
    with pytest.raises(error_type) as caught:
        client.cancel_scheduled("h1")
    assert caught.value.status == status
    assert len(api.calls) == 1  # a redirect is not followed


def test_auth_errors_say_whether_forbidden(client, api):
    api.get(f"{BASE}/reposts", status=403, json={"success": False, "message": "PLAN_NOT_ALLOWED"})
    with pytest.raises(TaislyAuthError) as caught:
        client.reposts()
    assert caught.value.forbidden is True
    assert isinstance(caught.value, TaislyForbidden)


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        ({"message": "RATE_LIMITED", "retryAfter": 120}, {"Retry-After": "5"}, 120),
        ({"message": "RATE_LIMITED"}, {"Retry-After": "7"}, 7),
        ({"message": "RATE_LIMITED", "retryAfter": 1.2}, {}, 2),
        ({"message": "RATE_LIMITED"}, {}, 60),
        (None, {}, 60),
    ],
)
def test_retry_after_comes_from_body_then_header_then_default(client, api, body, headers, expected):
    if body is None:
        api.get(f"{BASE}/reposts", status=429, body="slow down", headers=headers)
    else:
        api.get(f"{BASE}/reposts", status=429, json=body, headers=headers)
    with pytest.raises(TaislyRateLimited) as caught:
        client.reposts()
    assert caught.value.retry_after == expected
    assert caught.value.transient


def test_retry_after_as_an_http_date(client, api):
    later = datetime.now(UTC) + timedelta(seconds=90)
    api.get(
        f"{BASE}/reposts",
        status=429,
        headers={"Retry-After": later.strftime("%a, %d %b %Y %H:%M:%S GMT")},
    )
    with pytest.raises(TaislyRateLimited) as caught:
        client.reposts()
    assert 80 <= caught.value.retry_after <= 91


def test_key_generate_switches_the_client_to_the_new_key(client, api):
    api.post(
        f"{BASE}/user/api-key/generate",
        json={"success": True, "data": {"apiKey": NEW_KEY, "plan": "PRO"}},
    )
    api.get(f"{BASE}/user/api-key", json={"success": True, "data": {"plan": "PRO"}})
    generated = client.key_generate()
    assert isinstance(generated, GeneratedKey)
    client.key_info()
    assert api.calls[1].request.headers["Authorization"] == f"Bearer {NEW_KEY}"
    assert client.key_hint == "taisly_…3210"


def test_history_between_sends_unix_milliseconds(client, api):
    api.get(
        f"{BASE}/post/history",
        json={"data": []},
        match=[
            matchers.query_param_matcher(
                {"startTime": str(WHEN_MS), "endTime": str(WHEN_MS + 3_600_000)}
            )
        ],
    )
    assert client.history_between(WHEN, WHEN + timedelta(hours=1)) == ()


# --- Arguments refused before any call ---------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "   ", "taisly_a\nbc", "taisly_a b", "taisly_aé", None])
def test_it_refuses_a_malformed_key_without_echoing_it(bad):
    with pytest.raises(ValueError) as caught:
        TaislyClient(bad, base_url=BASE)
    assert "taisly_a" not in str(caught.value)


def test_it_strips_whitespace_around_a_pasted_key(api):
    api.get(f"{BASE}/reposts", json=[])
    TaislyClient(f"  {KEY}\n", base_url=BASE).reposts()
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {KEY}"


def test_create_post_refuses_naive_schedules_and_no_platforms(client, tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    with pytest.raises(ValueError):
        client.create_post(video, platforms=[])
    with pytest.raises(ValueError):
        client.create_post(video, platforms=["p1"], scheduled=datetime(2030, 1, 1))
    with pytest.raises(TypeError):
        client.create_post(io.StringIO("text"), platforms=["p1"])


# --- The key never leaks -----------------------------------------------------------------------


def test_the_key_is_not_in_the_clients_repr(client):
    assert_no_key(repr(client), str(client), repr(client._auth))
    assert "taisly_…cdef" in repr(client)


def test_errors_scrub_anything_shaped_like_a_key():
    error = TaislyRejected(f"Key {KEY} is wrong", status=400, code=KEY, endpoint="GET /x")
    assert_no_key(str(error), repr(error), error.detail, error.code)
    assert scrub(f"a {KEY} b") == "a taisly_…cdef b"
    # Quoted without its prefix, the key's hex is scrubbed too; a 24-hex object id is not.
    assert scrub(f"key {KEY[7:]}, post 0123456789abcdef01234567") == (
        "key taisly_…cdef, post 0123456789abcdef01234567"
    )


def test_errors_survive_pickling_without_the_key():
    error = TaislyRateLimited(
        "Slow down.", retry_after=30, status=429, code="RATE_LIMITED", endpoint="GET /reposts"
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.retry_after, copy.status, str(copy)) == (
        TaislyRateLimited,
        30,
        429,
        str(error),
    )
    unavailable = pickle.loads(
        pickle.dumps(
            TaislyUnavailable("gone", ambiguous=True, timeout=False, endpoint="POST /post")
        )
    )
    assert unavailable.ambiguous


def test_no_error_of_any_kind_leaks_the_key(client, api, records, caplog):
    caplog.set_level(logging.DEBUG)
    api.get(
        f"{BASE}/reposts",
        status=401,
        json={"success": False, "message": "INVALID_API_KEY", "error": "Invalid key."},
    )
    with pytest.raises(TaislyAuthError) as caught:
        client.reposts()
    error = caught.value
    assert error.__cause__ is None and error.__context__ is None
    assert not hasattr(error, "request") and not hasattr(error, "response")
    assert_no_key(str(error), repr(error), repr(records[-1]), caplog.text)


def test_a_refused_connection_is_unavailable_and_certainly_not_sent(records, caplog):
    caplog.set_level(logging.DEBUG)
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = TaislyClient(KEY, base_url=f"http://127.0.0.1:{port}/api/private", timeout=1)
    with pytest.raises(TaislyUnavailable) as caught:
        client.platforms()
    error = caught.value
    assert error.transient and not error.ambiguous
    assert error.status is None
    # Raised outside the except block: requests' exception (with the headers) is not chained.
    assert error.__cause__ is None and error.__context__ is None
    assert_no_key(str(error), repr(error), caplog.text)
    assert records[-1].status is None
    assert records[-1].error_code == "CONNECTION_ERROR"


def test_a_raising_receiver_does_not_break_the_call(client, api, caplog):
    def broken(**kwargs):
        raise RuntimeError("ledger down")

    taisly_call.connect(broken, weak=False)
    try:
        api.get(f"{BASE}/reposts", json=[])
        assert client.reposts() == ()
    finally:
        taisly_call.disconnect(broken)
    assert "ledger down" in caplog.text
    assert_no_key(caplog.text)


def test_every_call_is_recorded_with_its_context(api):
    seen = []

    def receiver(sender, record, context, **kwargs):
        seen.append((sender, record, context))

    taisly_call.connect(receiver, weak=False)
    try:
        api.get(f"{BASE}/reposts", json={"data": []})
        TaislyClient(KEY, base_url=BASE, context="connection-7").reposts()
    finally:
        taisly_call.disconnect(receiver)
    ((sender, record, context),) = seen
    assert sender is TaislyClient
    assert context == "connection-7"
    assert (record.endpoint, record.status, record.error_code) == ("GET /reposts", 200, None)
    assert record.started_at.tzinfo == UTC
    assert record.duration_ms >= 0


def sent_body(request) -> bytes:
    """The body as it went out: responses hands over the streamed body unread, so read it
    here, piece by piece (each piece is only valid until the next is asked for)."""
    if isinstance(request.body, bytes):
        return request.body
    return b"".join(bytes(piece) for piece in request.body)


def answer_after_reading_the_body(api, body: dict) -> list[bytes]:
    """Answer POST /post once the body has been read, as a server does; the bodies read."""
    bodies: list[bytes] = []

    def callback(request):
        bodies.append(sent_body(request))
        return 200, {}, json.dumps(body)

    api.add_callback(responses.POST, f"{BASE}/post", callback=callback)
    return bodies


def test_a_progress_callback_that_raises_still_records_the_call(client, api, records, tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0" * 100_000)
    answer_after_reading_the_body(api, {"historyId": "h1"})
    api.assert_all_requests_are_fired = False  # the upload is abandoned before it is answered

    def cancel(sent, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        client.create_post(video, platforms=["p1"], on_progress=cancel)
    assert records[-1].endpoint == "POST /post"
    assert records[-1].error_code == "CLIENT_ERROR"


def test_the_multipart_body_carries_the_fields_taisly_expects(client, api, tmp_path):
    video = tmp_path / "launch.webm"
    video.write_bytes(b"\x1a\x45\xdf\xa3" + b"\0" * 5000)
    bodies = answer_after_reading_the_body(api, {"historyId": "h1", "scheduled": True, "date": ISO})
    progress = []
    with open(video, "rb") as fileobj:
        post = client.create_post(
            fileobj,
            platforms=["p1", "p2"],
            description="Hello",
            preview_time=1.5,
            scheduled=WHEN,
            on_progress=lambda sent, total: progress.append((sent, total)),
        )
    assert post.scheduled and post.date == WHEN
    request = api.calls[0].request
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert "Transfer-Encoding" not in request.headers
    (body,) = bodies
    sent, total = progress[-1]
    assert sent == total == int(request.headers["Content-Length"]) == len(body)
    for part in (
        b'name="platforms"\r\n\r\n["p1", "p2"]',
        b'name="description"\r\n\r\nHello',
        b'name="previewTime"\r\n\r\n1.5',
        f'name="scheduled"\r\n\r\n{WHEN_MS}'.encode(),
        b'filename="launch.webm"',
        b"Content-Type: video/webm",
    ):
        assert part in body, part


def test_a_file_object_without_fileno_is_sized_and_streamed(client, api):
    api.post(f"{BASE}/post", json={"historyId": "h1"})

    class Stream(io.RawIOBase):  # like a storage backend's file: seekable, no fileno
        def __init__(self):
            self._data = io.BytesIO(b"v" * 70_000)
            self.name = "media/uploads/abc.mp4"

        def readable(self):
            return True

        def seekable(self):
            return True

        def readinto(self, buffer):
            chunk = self._data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

        def seek(self, offset, whence=0):
            return self._data.seek(offset, whence)

        def tell(self):
            return self._data.tell()

    client.create_post(Stream(), platforms=["p1"])
    request = api.calls[0].request
    body = sent_body(request)
    assert b"v" * 70_000 in body
    assert b'filename="abc.mp4"' in body
    assert len(body) == int(request.headers["Content-Length"])


@pytest.mark.parametrize("block_bytes", [7, 1000, UPLOAD_BLOCK_BYTES])
def test_the_streamed_body_is_byte_for_byte_what_multipart_encoder_sends(block_bytes):
    data = bytes(range(256)) * 4000 + b"end"
    fields = [
        ("platforms", json.dumps(["p1", "p2"])),
        ("description", 'Héllo "quoted"\r\nnext line'),
        ("previewTime", "1.5"),
    ]
    progress = []
    body = MultipartBody(
        fields,
        file_field="video",
        fileobj=io.BytesIO(data),
        filename='clip "ñ".mp4',
        content_type="video/mp4",
        boundary="b0undary",
        block_bytes=block_bytes,
        on_progress=lambda sent, total: progress.append((sent, total)),
    )
    pieces = [bytes(piece) for piece in body]
    reference = MultipartEncoder(
        fields=[*fields, ("video", ('clip "ñ".mp4', io.BytesIO(data), "video/mp4"))],
        boundary="b0undary",
    ).to_string()
    assert b"".join(pieces) == reference
    assert len(body) == len(reference)
    assert body.content_type == "multipart/form-data; boundary=b0undary"
    assert max(len(piece) for piece in pieces[1:-1]) <= block_bytes  # never the whole file
    assert progress[-1] == (len(reference), len(reference))
    assert [sent for sent, _ in progress] == sorted(sent for sent, _ in progress)
    assert b"".join(bytes(piece) for piece in body) == reference  # a second pass starts over


def test_the_streamed_body_starts_at_the_files_position():
    fileobj = io.BytesIO(b"skip" + b"v" * 10)
    fileobj.seek(4)
    body = MultipartBody(
        [], file_field="video", fileobj=fileobj, filename="a.mp4", content_type="video/mp4"
    )
    sent = b"".join(bytes(piece) for piece in body)
    assert b"v" * 10 in sent and b"skip" not in sent
    assert len(sent) == len(body)


def test_a_file_that_shrinks_while_sent_is_refused_not_sent_short(tmp_path):
    path = tmp_path / "v.mp4"
    path.write_bytes(b"v" * 5000)
    with open(path, "rb") as fileobj:
        body = MultipartBody(
            [],
            file_field="video",
            fileobj=fileobj,
            filename="v.mp4",
            content_type="video/mp4",
            block_bytes=1000,
        )
        path.write_bytes(b"v" * 2500)  # truncated under the open file
        with pytest.raises(ValueError, match="ended before its size"):
            b"".join(bytes(piece) for piece in body)


def test_json_bodies_are_sent_for_repost_changes(client, api):
    rule = {"_id": "r1", "from": "p1", "to": ["p2"], "isPaused": True, "createdAt": ISO}
    api.post(
        f"{BASE}/repost/pause",
        json={"data": rule},
        match=[matchers.json_params_matcher({"id": "r1", "isPaused": True})],
    )
    api.post(
        f"{BASE}/repost/pause",
        json={"data": {**rule, "isPaused": False}},
        match=[matchers.json_params_matcher({"id": "r1", "isPaused": False})],
    )
    api.post(
        f"{BASE}/repost/delete",
        json={"data": {"id": "r1", "deleted": True}},
        match=[matchers.json_params_matcher({"id": "r1"})],
    )
    assert client.repost_pause("r1", True).paused is True
    assert client.repost_resume("r1").paused is False
    assert client.repost_delete("r1") is None
    assert json.loads(api.calls[2].request.body) == {"id": "r1"}


def test_errors_are_one_family():
    for error_type in (
        TaislyAuthError,
        TaislyForbidden,
        TaislyRateLimited,
        TaislyRejected,
        TaislyServerError,
        TaislyUnavailable,
        TaislyProtocolError,
    ):
        assert issubclass(error_type, TaislyError)
    assert {
        t.__name__ for t in (TaislyServerError, TaislyUnavailable, TaislyRateLimited) if t.transient
    } == {"TaislyServerError", "TaislyUnavailable", "TaislyRateLimited"}
    assert not any(t.transient for t in (TaislyAuthError, TaislyRejected, TaislyProtocolError))
