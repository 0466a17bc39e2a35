"""A draft's kept video in a real S3-compatible bucket (moto's server over HTTP) is served in
ranges as from local disk: each range a ranged GetObject, never the whole object in memory."""

from __future__ import annotations

import pytest

from tests.reviewlinks.fixtures import make_kept_draft
from tests.reviewlinks.test_video_ranges import check_ranges

pytestmark = pytest.mark.django_db


def test_ranges_come_from_the_bucket(login, vera, workspace, bob, video_file, bucket):
    draft = make_kept_draft(workspace, bob, video_file("review.mp4", seconds=3.0))
    assert bucket.keys() == [draft.video.name]
    check_ranges(login(vera), draft)
