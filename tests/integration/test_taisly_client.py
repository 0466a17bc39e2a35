"""The Taisly client against the running sandbox over real HTTP: all eleven operations, every
error type (through the sandbox's fault injection and its real limits), the call hook, and the
key staying out of every log line and exception."""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime, timedelta

import pytest

from posting.taisly import (
    CallRecord,
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
    taisly_call,
)
from posting.taisly import client as client_module
from tests.videos import make_video

STARTER_LIMIT = 50


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("videos") / "clip.mp4", seconds=4.0)


@pytest.fixture
def account(sandbox_account):
    return sandbox_account


@pytest.fixture
def client(sandbox, account):
    with TaislyClient(account["api_key"], base_url=sandbox.base_url, timeout=(2, 10)) as client:
        yield client


@pytest.fixture
def ids(account):
    return {p["platform"]: p["_id"] for p in account["platforms"]}


@pytest.fixture
def records():
    seen: list[tuple[CallRecord, object]] = []

    def receiver(sender, record, context, **kwargs):
        seen.append((record, context))

    taisly_call.connect(receiver, weak=False)
    yield seen
    taisly_call.disconnect(receiver)


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def error_texts(error: BaseException) -> str:
    """Everything an error could show: str, repr, attributes, the formatted traceback chain."""
    return "\n".join(
        [
            str(error),
            repr(error),
            repr(vars(error)),
            "".join(traceback.format_exception(error)),
            repr(error.__cause__),
            repr(error.__context__),
        ]
    )


def assert_key_absent(key: str, *texts: str) -> None:
    for text in texts:
        assert key not in text
        assert key.removeprefix("taisly_") not in text


# --- The key and the platforms ---------------------------------------------------------------


def test_key_info_describes_the_key(client, account):
    info = client.key_info()
    assert info.plan == "STARTER"
    assert info.key_hint == key_hint(account["api_key"])
    assert info.created_at is not None and info.created_at.tzinfo == UTC
    assert info.rate_limit == STARTER_LIMIT


def test_platforms_lists_the_connected_accounts(client, account):
    platforms = client.platforms()
    assert {p.id for p in platforms} == {p["_id"] for p in account["platforms"]}
    assert {p.network for p in platforms} == {"TikTok", "Instagram", "YouTube", "X", "Facebook"}
    assert all(p.connected and p.name for p in platforms)


def test_platforms_says_which_are_disconnected(sandbox):
    account = sandbox.create_account(platforms=("TikTok", "X"), disconnected=("X",))
    with TaislyClient(account["api_key"], base_url=sandbox.base_url) as client:
        connected = {p.network: p.connected for p in client.platforms()}
    assert connected == {"TikTok": True, "X": False}


def test_key_generate_replaces_the_key_and_the_client_follows(sandbox, client, account):
    old_key = account["api_key"]
    generated = client.key_generate()
    assert generated.api_key.startswith("taisly_") and generated.api_key != old_key
    assert generated.key_hint == key_hint(generated.api_key)
    assert generated.api_key not in repr(generated)
    assert client.key_info().key_hint == generated.key_hint  # now on the new key
    with pytest.raises(TaislyAuthError) as caught:
        TaislyClient(old_key, base_url=sandbox.base_url).key_info()
    assert caught.value.status == 401
    assert caught.value.code == "INVALID_API_KEY"


def test_a_revoked_key_gets_401(client):
    assert client.key_revoke() is None
    with pytest.raises(TaislyAuthError) as caught:
        client.platforms()
    error = caught.value
    assert (error.status, error.code, error.forbidden, error.transient) == (
        401,
        "INVALID_API_KEY",
        False,
        False,
    )
    assert error.detail  # Taisly's sentence
    assert error.endpoint == "GET /platform/platforms"


def test_a_free_plan_gets_403(sandbox):
    account = sandbox.create_account(plan="FREE")
    client = TaislyClient(account["api_key"], base_url=sandbox.base_url)
    with pytest.raises(TaislyAuthError) as caught:
        client.platforms()
    error = caught.value
    assert isinstance(error, TaislyForbidden)
    assert (error.status, error.code, error.forbidden) == (403, "PLAN_NOT_ALLOWED", True)


# --- Posts -------------------------------------------------------------------------------------


def test_create_post_uploads_now_and_reports_progress(client, ids, video, sandbox):
    progress: list[tuple[int, int]] = []
    post = client.create_post(
        video,
        platforms=[ids["TikTok"], ids["YouTube"]],
        description="Launch day",
        preview_time=1.5,
        on_progress=lambda sent, total: progress.append((sent, total)),
    )
    assert post.id and post.scheduled is False
    assert post.date is not None and post.date.tzinfo == UTC
    assert [(r.platform_id, r.network, r.status) for r in post.results] == [
        (ids["TikTok"], "TikTok", "PENDING"),
        (ids["YouTube"], "YouTube", "PENDING"),
    ]
    sent, total = progress[-1]
    assert sent == total > video.stat().st_size
    assert [s for s, _ in progress] == sorted(s for s, _ in progress)
    assert sandbox.state()["lastUpload"]["code"] == "OK"  # the sandbox read a real video

    (listed,) = client.history().posts
    assert (listed.id, listed.description, listed.preview_time) == (post.id, "Launch day", 1.5)


def test_the_video_streams_in_blocks_with_a_content_length_and_the_sandbox_takes_it(
    client, ids, video, sandbox, monkeypatch
):
    # Small blocks, so even this short clip goes out in many pieces of one reused buffer.
    monkeypatch.setattr(client_module, "UPLOAD_BLOCK_BYTES", 512)
    sent_headers = []
    client.session.hooks["response"].append(
        lambda response, **kwargs: sent_headers.append(response.request.headers)
    )
    progress: list[tuple[int, int]] = []
    with open(video, "rb") as fileobj:
        client.create_post(
            fileobj,
            platforms=[ids["TikTok"]],
            description="Streamed: ünïcode",
            on_progress=lambda sent, total: progress.append((sent, total)),
        )
    (headers,) = sent_headers
    assert "Transfer-Encoding" not in headers
    total = int(headers["Content-Length"])
    assert progress[-1] == (total, total)
    # The part headers, every block of the file, the closing boundary.
    assert len(progress) == 2 + -(-video.stat().st_size // 512)
    upload = sandbox.state()["lastUpload"]
    assert (upload["code"], upload["size"]) == ("OK", video.stat().st_size)
    (listed,) = client.history().posts
    assert listed.description == "Streamed: ünïcode"


def test_create_post_accepts_an_open_file_and_a_schedule(client, ids, video):
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    with open(video, "rb") as fileobj:
        post = client.create_post(
            fileobj, platforms=[ids["X"]], description="Later", scheduled=when
        )
    assert post.scheduled is True
    assert post.date == when
    (listed,) = client.history().posts
    assert listed.scheduled is True and listed.scheduled_at == when


def test_history_pages_through_posts(client, ids, video):
    created = [
        client.create_post(video, platforms=[ids["TikTok"]], description=f"post {n}").id
        for n in range(11)
    ]
    first, second = client.history(1), client.history(2)
    assert (first.page, first.total_pages, first.total, first.has_next) == (1, 2, 11, True)
    assert (second.page, second.has_next) == (2, False)
    assert len(first.posts) == 10 and len(second.posts) == 1
    assert {p.id for p in first.posts + second.posts} == set(created)


def test_history_between_returns_every_post_in_the_range(client, ids, video):
    post = client.create_post(video, platforms=[ids["Instagram"]])
    assert post.date is not None
    found = client.history_between(
        post.date - timedelta(minutes=1), post.date + timedelta(minutes=1)
    )
    assert [p.id for p in found] == [post.id]
    assert (
        client.history_between(post.date + timedelta(hours=1), post.date + timedelta(hours=2)) == ()
    )


def test_status_moves_on_in_history_when_the_sandbox_publishes(sandbox, client, ids, video):
    post = client.create_post(video, platforms=[ids["TikTok"]], description="fine")
    sandbox.advance(120)
    (listed,) = client.history().posts
    assert listed.id == post.id
    assert [r.status for r in listed.results] == ["SUCCESS"]


def test_cancel_scheduled_deletes_a_scheduled_post(client, ids, video):
    post = client.create_post(
        video, platforms=[ids["TikTok"]], scheduled=datetime.now(UTC) + timedelta(days=1)
    )
    assert client.cancel_scheduled(post.id) is None
    assert client.history().posts == ()
    with pytest.raises(TaislyRejected) as caught:
        client.cancel_scheduled(post.id)
    assert (caught.value.status, caught.value.code) == (404, "POST_NOT_FOUND")


def test_cancel_refuses_a_post_that_is_not_scheduled(client, ids, video):
    post = client.create_post(video, platforms=[ids["TikTok"]])
    with pytest.raises(TaislyRejected) as caught:
        client.cancel_scheduled(post.id)
    error = caught.value
    assert (error.status, error.code, error.transient) == (400, "POST_NOT_SCHEDULED", False)


def test_a_post_to_an_unknown_platform_is_rejected(client, video):
    with pytest.raises(TaislyRejected) as caught:
        client.create_post(video, platforms=["no-such-platform"])
    assert caught.value.code == "PLATFORM_NOT_FOUND"


# --- Repost rules ------------------------------------------------------------------------------


def test_repost_rules_can_be_added_listed_paused_resumed_and_deleted(client, ids):
    assert client.reposts() == ()
    rule = client.repost_add(ids["TikTok"], [ids["Instagram"], ids["YouTube"]])
    assert (rule.from_platform, rule.to_platforms, rule.paused) == (
        ids["TikTok"],
        (ids["Instagram"], ids["YouTube"]),
        False,
    )
    assert rule.created_at is not None and rule.created_at.tzinfo == UTC
    assert client.reposts() == (rule,)

    assert client.repost_pause(rule.id, True).paused is True
    assert client.reposts()[0].paused is True
    assert client.repost_resume(rule.id).paused is False

    assert client.repost_delete(rule.id) is None
    assert client.reposts() == ()


def test_a_circular_repost_rule_is_rejected(client, ids):
    client.repost_add(ids["TikTok"], [ids["X"]])
    with pytest.raises(TaislyRejected) as caught:
        client.repost_add(ids["X"], [ids["TikTok"]])
    assert (caught.value.status, caught.value.code) == (400, "CIRCULAR_REPOST")
    assert caught.value.detail


# --- Failures, through the sandbox's fault injection ------------------------------------------


def test_a_500_is_a_transient_server_error(sandbox, client):
    sandbox.fault("500")
    with pytest.raises(TaislyServerError) as caught:
        client.platforms()
    error = caught.value
    assert (error.status, error.code, error.transient) == (500, "INTERNAL_ERROR", True)
    assert client.platforms()  # one fault, one failure


def test_a_slow_answer_is_unavailable_and_ambiguous(sandbox, account):
    sandbox.fault("timeout", delay=2)
    client = TaislyClient(account["api_key"], base_url=sandbox.base_url, timeout=(2, 0.5))
    with pytest.raises(TaislyUnavailable) as caught:
        client.reposts()
    error = caught.value
    assert error.timeout and error.transient
    assert error.ambiguous  # the request went out; only the answer is missing
    assert error.status is None
    assert error.error_code == "TIMEOUT"


def test_an_upload_answered_too_slowly_uses_the_upload_timeout(sandbox, account, ids, video):
    sandbox.fault("timeout", delay=2)
    client = TaislyClient(
        account["api_key"], base_url=sandbox.base_url, timeout=(2, 10), upload_read_timeout=0.5
    )
    with pytest.raises(TaislyUnavailable) as caught:
        client.create_post(video, platforms=[ids["TikTok"]])
    assert caught.value.ambiguous


def test_garbage_is_a_protocol_error(sandbox, client):
    sandbox.fault("garbage")
    with pytest.raises(TaislyProtocolError) as caught:
        client.history()
    error = caught.value
    assert error.status == 200
    assert not error.transient
    assert "not JSON" in error.detail


def test_a_429_fault_is_rate_limited_with_its_retry_after(sandbox, client):
    sandbox.fault("429", retryAfter=42)
    with pytest.raises(TaislyRateLimited) as caught:
        client.reposts()
    error = caught.value
    assert (error.status, error.code, error.retry_after, error.transient) == (
        429,
        "RATE_LIMITED",
        42,
        True,
    )


def test_a_dropped_connection_after_the_post_was_made_is_ambiguous(sandbox, client, ids, video):
    sandbox.fault("drop")
    with pytest.raises(TaislyUnavailable) as caught:
        client.create_post(video, platforms=[ids["TikTok"]], description="dropped")
    error = caught.value
    assert error.ambiguous and not error.timeout
    assert error.status is None
    # It was carried out: this is why an ambiguous post is reconciled before any retry.
    (post,) = client.history().posts
    assert post.description == "dropped"


def test_a_dropped_repost_change_is_ambiguous_too(sandbox, client, ids):
    sandbox.fault("drop")
    with pytest.raises(TaislyUnavailable) as caught:
        client.repost_add(ids["TikTok"], [ids["X"]])
    assert caught.value.ambiguous
    assert len(client.reposts()) == 1


def test_the_starter_limit_gives_a_real_429(client):
    for _ in range(STARTER_LIMIT):
        client.reposts()
    with pytest.raises(TaislyRateLimited) as caught:
        client.reposts()
    error = caught.value
    assert error.code == "RATE_LIMITED"
    # The oldest of the 50 calls leaves the hour window in a little under an hour.
    assert 3000 < error.retry_after <= 3600


# --- The hook and the key ----------------------------------------------------------------------


def test_every_call_is_recorded_including_failures(sandbox, account, records, ids):
    client = TaislyClient(
        account["api_key"], base_url=sandbox.base_url, timeout=(2, 0.5), context={"conn": 7}
    )
    client.platforms()
    sandbox.fault("500")
    with pytest.raises(TaislyServerError):
        client.reposts()
    sandbox.fault("timeout", delay=2)
    with pytest.raises(TaislyUnavailable):
        client.history()
    with pytest.raises(TaislyRejected):
        client.cancel_scheduled("nope")

    seen = [(r.endpoint, r.status, r.error_code) for r, _ in records]
    assert seen == [
        ("GET /platform/platforms", 200, None),
        ("GET /reposts", 500, "INTERNAL_ERROR"),
        ("GET /post/history", None, "TIMEOUT"),
        ("GET /post/cancelSchedule", 404, "POST_NOT_FOUND"),
    ]
    assert all(context == {"conn": 7} for _, context in records)
    for record, _ in records:
        assert record.started_at.tzinfo == UTC
        assert record.duration_ms >= 0
    assert records[2][0].duration_ms >= 400  # the timeout took its time


def test_a_receiver_that_raises_does_not_break_calls(client, logs):
    def broken(**kwargs):
        raise RuntimeError("ledger unavailable")

    taisly_call.connect(broken, weak=False)
    try:
        assert client.reposts() == ()
    finally:
        taisly_call.disconnect(broken)
    assert "ledger unavailable" in logs.text


def test_the_key_is_never_logged_or_shown_in_errors(sandbox, account, ids, video, logs):
    key = account["api_key"]
    client = TaislyClient(key, base_url=sandbox.base_url, timeout=(2, 0.5))
    assert_key_absent(key, repr(client), str(client))

    errors: list[TaislyError] = []
    client.platforms()
    client.create_post(video, platforms=[ids["TikTok"]])
    for mode, extra in (("500", {}), ("garbage", {}), ("429", {}), ("drop", {})):
        sandbox.fault(mode, **extra)
        with pytest.raises(TaislyError) as caught:
            client.reposts()
        errors.append(caught.value)
    sandbox.fault("timeout", delay=2)
    with pytest.raises(TaislyUnavailable) as caught:
        client.history()
    errors.append(caught.value)
    with pytest.raises(TaislyRejected) as caught:
        client.cancel_scheduled("missing")
    errors.append(caught.value)
    client.key_revoke()
    with pytest.raises(TaislyAuthError) as caught:
        client.key_info()
    errors.append(caught.value)

    assert [type(e).__name__ for e in errors] == [
        "TaislyServerError",
        "TaislyProtocolError",
        "TaislyRateLimited",
        "TaislyUnavailable",
        "TaislyUnavailable",
        "TaislyRejected",
        "TaislyAuthError",
    ]
    for error in errors:
        assert error.__cause__ is None and error.__context__ is None
        assert_key_absent(key, error_texts(error))
    assert "GET /reposts" in logs.text  # the client does log its calls at DEBUG...
    assert_key_absent(key, logs.text)  # ...never with the key
