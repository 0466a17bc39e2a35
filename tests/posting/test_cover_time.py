"""A cover time past the video's end. Decided: where a video was just uploaded (compose, a
draft) the cover moves to the video's last frame and the page says so, so the upload is not
lost; on the edit page, where nothing is uploaded, the form refuses with a sentence and the
person chooses again. Never silently frame 0, as before."""

from __future__ import annotations

import math
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from posting.models import Draft, Post
from posting.sending import queueing
from tests.posting import test_edits
from tests.posting.test_edits import edit_data, edit_url
from tests.posting.test_upload import post_form
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_data

pytestmark = pytest.mark.django_db(transaction=True)

scheduled = test_edits.scheduled
queue = test_edits.queue


def last_frame(duration: float) -> float:
    return math.floor(duration * 10) / 10 - 0.1


def test_compose_moves_a_cover_past_the_end_to_the_last_frame_and_says_so(
    login, bob, workspace, connected_ws, video_file, media, monkeypatch
):
    monkeypatch.setattr(queueing, "enqueue_forward", lambda pk: None)
    client = login(bob)
    response, _ = post_form(client, workspace, video_file(), cover_second="60")
    assert response.status_code == 302
    post = Post.objects.get()
    assert 0 < post.video_duration < 60
    assert post.cover_second == pytest.approx(last_frame(post.video_duration))
    page = client.get(response["Location"]).content.decode()
    assert "The cover time you chose (60.0 s) is past the end of the video" in page
    assert "so the video&#x27;s last frame" in page or "so the video's last frame" in page


def test_a_draft_moves_it_too_and_says_so(login, bob, workspace, connected_ws, video_file, media):
    client = login(bob)
    url = reverse("posting:draft_create", kwargs={"code": workspace.code})
    with open(video_file(), "rb") as fh:
        data = {**compose_data(workspace, cover_second="75"), "video": fh}
        response = client.post(url, data)
    errors = re.findall(r"is-danger[^>]*>([^<]+)", response.content.decode())
    assert response.status_code == 302, errors
    draft = Draft.objects.get()
    assert draft.cover_second == pytest.approx(last_frame(draft.video_duration))
    assert "is past the end of the video" in client.get(response["Location"]).content.decode()


def test_the_edit_page_refuses_a_cover_past_the_end_and_keeps_what_was_typed(
    login, bob, scheduled, queue
):
    when = timezone.now() + timedelta(days=3)
    response = login(bob).post(
        edit_url(scheduled),
        edit_data(scheduled, when, cover_second="60", description="Typed caption"),
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "The cover time (60.0 s) is past the end of the video" in html
    assert "Typed caption" in html
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.SENT and queue == []
