"""A draft's kept video is served with range requests (a player seeks in it): 206 with
Content-Range for one range, 200 for the whole or for several ranges, 416 past the end; on local
disk and in a real S3-compatible bucket (moto's server over HTTP)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from posting.sending.ranged import parse_range
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.reviewlinks.fixtures import *  # noqa: F403 (fixtures)

pytestmark = pytest.mark.django_db


def video_url(draft) -> str:
    return reverse(
        "posting:draft_video", kwargs={"code": draft.workspace.code, "draft_code": draft.code}
    )


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", None),
        ("bytes=0-99", (0, 99)),
        ("bytes=10-", (10, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=900-5000", (900, 999)),
        ("bytes=1000-", False),
        ("bytes=-0", False),
        ("bytes=5-1", None),
        ("bytes=0-1,5-9", None),
        ("items=0-9", None),
        ("bytes=" + "9" * 40 + "-", None),
    ],
)
def test_the_range_header_is_read_as_rfc_9110_says(header, expected):
    assert parse_range(header, 1000) == expected


def check_ranges(client, draft) -> None:
    whole = client.get(video_url(draft))
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"
    data = body(whole)
    size = len(data)
    assert size == draft.video_size > 1000 and whole["Content-Type"] == "video/mp4"
    assert int(whole["Content-Length"]) == size

    part = client.get(video_url(draft), HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-199/{size}" and part["Content-Length"] == "100"
    assert body(part) == data[100:200]

    tail = client.get(video_url(draft), HTTP_RANGE="bytes=-50")
    assert tail.status_code == 206 and body(tail) == data[-50:]
    open_ended = client.get(video_url(draft), HTTP_RANGE=f"bytes={size - 10}-")
    assert open_ended.status_code == 206 and body(open_ended) == data[-10:]

    past = client.get(video_url(draft), HTTP_RANGE=f"bytes={size}-")
    assert past.status_code == 416 and past["Content-Range"] == f"bytes */{size}"
    several = client.get(video_url(draft), HTTP_RANGE="bytes=0-9,20-29")
    assert several.status_code == 200 and body(several) == data


def test_a_member_gets_the_video_in_ranges(login, vera, kept_draft):
    check_ranges(login(vera), kept_draft)


def test_an_outsider_gets_a_404_and_no_bytes(login, charlie, kept_draft):
    response = login(charlie).get(video_url(kept_draft), HTTP_RANGE="bytes=0-9")
    assert response.status_code == 404


def test_a_draft_without_a_video_is_a_404(login, vera, kept_draft):
    kept_draft.video.delete()
    assert login(vera).get(video_url(kept_draft)).status_code == 404
