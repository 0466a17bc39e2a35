"""A draft's thumbnail: made by the worker (the post's machinery) when the draft is saved with a
video, made again when its video or cover changes, served to members only, shown on the drafts
list, the draft's page and the calendar with the pages' query counts unchanged, deleted with the
draft and handed to the post when the draft is sent.

Videos are real (tests/videos.py ``make_timed_video``: each frame's grey level tells its index,
so the thumbnail's pixels say which frame it was made from). Tasks run synchronously under
pytest (Q_CLUSTER ``sync``); the sends go to the sandbox over HTTP.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Workspace
from posting.models import Draft
from posting.sending import limits, queueing, thumbnails
from tests.posting.test_thumbnails import decoded, mean_luma
from tests.posting.upload_fixtures import *  # noqa: F403 (media, connected_ws, video_file...)
from tests.posting.upload_fixtures import compose_data
from tests.videos import make_timed_video, timed_luma

pytestmark = pytest.mark.django_db

FPS = 10


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 4-second video whose frames tell the time (10 a second)."""
    root = tmp_path_factory.mktemp("draft-thumbs")
    return make_timed_video(root / "clip.mp4", width=180, height=320, seconds=4, fps=FPS)


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run what a request leaves for after its commit (the queued thumbnail, the file deletes),
    as the server does: the test's transaction never commits."""

    def run(action):
        with django_capture_on_commit_callbacks(execute=True):
            return action()

    return run


@pytest.fixture
def no_forward(monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(queueing, "enqueue_forward", queued.append)
    return queued


def url(draft, name: str, workspace=None) -> str:
    code = (workspace or draft.workspace).code
    return reverse(name, kwargs={"code": code, "draft_code": draft.code})


def thumb_url(draft, workspace=None, version: str | None = None) -> str:
    base = url(draft, "posting:draft_thumbnail", workspace)
    return f"{base}?v={version}" if version is not None else base


def save(client, workspace, video, run, **data) -> Draft:
    payload = compose_data(workspace, **data)
    with open(video, "rb") as fh:
        response = run(
            lambda: client.post(
                reverse("posting:draft_create", kwargs={"code": workspace.code}),
                {**payload, "video": fh},
            )
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    return Draft.objects.latest("id")


def luma_of(draft: Draft) -> float:
    draft.refresh_from_db()
    assert draft.thumbnail, "no thumbnail was made"
    with draft.thumbnail.open("rb") as fh:
        return mean_luma(decoded(fh.read()))


@pytest.fixture
def saved(login, bob, workspace, connected_ws, clip, run_on_commit) -> Draft:
    return save(login(bob), workspace, clip, run_on_commit, cover_second="2.3")


def test_a_saved_draft_gets_the_frame_at_its_cover_time(saved, workspace):
    draft = saved
    assert abs(luma_of(draft) - timed_luma(23)) < 2.5
    assert draft.thumbnail.name.startswith("thumbnails/") and draft.thumbnail.name.endswith(".webp")
    # Not counted in the kept-video storage, as a post's is not: the video's bytes alone.
    assert limits.workspace_storage(workspace).used == draft.video_size
    # A redelivered task makes nothing again.
    assert "already" in thumbnails.draft_thumbnail_make(draft_id=draft.pk)


def test_a_new_cover_or_video_makes_it_again_and_deletes_the_old(
    saved, login, bob, workspace, tmp_path, run_on_commit
):
    draft, client = saved, login(bob)
    first = draft.thumbnail.name
    storage = draft.thumbnail.storage

    # Only the words change: the thumbnail is still the frame shown, kept as it is.
    words = compose_data(workspace, description="Other words", cover_second="2.3")
    assert run_on_commit(lambda: client.post(url(draft, "posting:draft"), words)).status_code == 302
    draft.refresh_from_db()
    assert draft.thumbnail.name == first and storage.exists(first)

    # A new cover second: a new frame, a new file (a new URL), the old one deleted.
    cover = compose_data(workspace, cover_second="0.5")
    assert run_on_commit(lambda: client.post(url(draft, "posting:draft"), cover)).status_code == 302
    assert abs(luma_of(draft) - timed_luma(5)) < 2.5
    second = draft.thumbnail.name
    assert second != first and not storage.exists(first)

    # A new video (longer, so a later cover fits): made from it.
    longer = make_timed_video(tmp_path / "longer.mp4", width=180, height=320, seconds=5, fps=FPS)
    with open(longer, "rb") as fh:
        data = {**compose_data(workspace, cover_second="4.2"), "video": fh}
        response = run_on_commit(lambda: client.post(url(draft, "posting:draft"), data))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert abs(luma_of(draft) - timed_luma(42)) < 2.5
    assert draft.thumbnail.name != second and not storage.exists(second)


def test_a_run_whose_frame_went_stale_keeps_nothing(saved, media):
    """A worker still decoding the old cover when the draft is saved with a new one: its
    frame is not saved over the field the save emptied, and its file is removed."""
    draft = saved
    Draft.objects.filter(pk=draft.pk).update(thumbnail="")
    old = Draft.objects.get(pk=draft.pk)
    Draft.objects.filter(pk=draft.pk).update(cover_second=0.5)  # saved meanwhile
    before = set(media.rglob("*.webp"))

    assert thumbnails._save(old, b"RIFF....WEBP") is False

    assert set(media.rglob("*.webp")) == before
    assert Draft.objects.get(pk=draft.pk).thumbnail.name == ""


def test_members_get_it_privately_cached_and_outsiders_404(
    saved, workspace, login, vera, charlie, client
):
    draft = saved
    viewer = login(vera)  # a viewer: reading is enough
    response = viewer.get(thumb_url(draft, version=draft.thumbnail_version))
    assert response.status_code == 200 and response["Content-Type"] == "image/webp"
    with draft.thumbnail.open("rb") as fh:
        assert response.content == fh.read()
    cache = response["Cache-Control"]
    assert "private" in cache and "max-age=31536000" in cache and "public" not in cache
    again = viewer.get(
        thumb_url(draft, version=draft.thumbnail_version), HTTP_IF_NONE_MATCH=response["ETag"]
    )
    assert again.status_code == 304
    assert "max-age=300" in viewer.get(thumb_url(draft, version="old"))["Cache-Control"]

    outsider = login(charlie)
    assert outsider.get(thumb_url(draft, version=draft.thumbnail_version)).status_code == 404
    own = Workspace.objects.create(name="Charlie's")
    own.memberships.create(user=charlie, role="owner")
    assert outsider.get(thumb_url(draft, own, draft.thumbnail_version)).status_code == 404
    signed_out = client.get(thumb_url(draft))
    assert signed_out.status_code == 302 and "/login" in signed_out["Location"]
    assert viewer.post(thumb_url(draft)).status_code == 405


def test_a_draft_without_one_is_404_and_shows_why(
    login, bob, workspace, connected_ws, clip, monkeypatch, run_on_commit
):
    # The worker has not run yet: the pages say it is being made.
    monkeypatch.setattr(thumbnails, "draft_thumbnail_enqueue", lambda pk: None)
    client = login(bob)
    draft = save(client, workspace, clip, run_on_commit)
    assert client.get(thumb_url(draft)).status_code == 404
    for page in (
        reverse("posting:drafts", kwargs={"code": workspace.code}),
        url(draft, "posting:draft"),
    ):
        html = client.get(page).content.decode()
        assert 'data-kind="pending"' in html and 'data-testid="thumbnail"' not in html


def test_the_pages_show_it_with_their_query_counts_unchanged(
    login, bob, workspace, connected_ws, clip, run_on_commit, django_assert_num_queries
):
    client = login(bob)
    when = timezone.localtime() + timedelta(days=2)
    planned = when.strftime("%Y-%m-%dT%H:%M")
    drafts = [
        save(client, workspace, clip, run_on_commit, when="later", scheduled_at=planned)
        for _ in range(3)
    ]
    pages = {
        # session, user, memberships, the count, the drafts with their authors, their accounts
        reverse("posting:drafts", kwargs={"code": workspace.code}): 6,
        # session, user, memberships, the posts, the drafts (with their thumbnails' names),
        # the posting slots: as tests/posting/test_calendar.py pins them
        reverse("posting:calendar", kwargs={"code": workspace.code}) + f"?month={when:%Y-%m}": 6,
        reverse("posting:calendar_week", kwargs={"code": workspace.code})
        + f"?date={when:%Y-%m-%d}": 6,
    }
    for address, queries in pages.items():
        with django_assert_num_queries(queries):
            html = client.get(address).content.decode()
        for draft in drafts:
            draft.refresh_from_db()
            assert f"{thumb_url(draft)}?v={draft.thumbnail_version}" in html, address
    page = client.get(url(drafts[0], "posting:draft")).content.decode()
    assert 'data-testid="draft-cover"' in page and thumb_url(drafts[0]) in page
    # The player opens on the same frame, not a black box until it plays.
    poster = f'poster="{thumb_url(drafts[0])}?v={drafts[0].thumbnail_version}"'
    assert poster in page


def test_deleting_the_draft_deletes_its_thumbnail(saved, login, bob, run_on_commit):
    draft = saved
    name, storage = draft.thumbnail.name, draft.thumbnail.storage
    assert storage.exists(name)
    response = run_on_commit(lambda: login(bob).post(url(draft, "posting:draft_delete")))
    assert response.status_code == 302 and not Draft.objects.exists()
    assert not storage.exists(name)


def test_deleting_the_workspace_deletes_its_drafts_thumbnails(saved, workspace, run_on_commit):
    name, storage = saved.thumbnail.name, saved.thumbnail.storage
    run_on_commit(lambda: Workspace.objects.filter(pk=workspace.pk).delete())
    assert not storage.exists(name)


def test_sending_hands_the_thumbnail_to_the_post(
    saved, login, bob, workspace, run_on_commit, no_forward
):
    draft = saved
    name = draft.thumbnail.name
    form = compose_data(workspace, cover_second="2.3")  # the page's form, as it was saved
    response = run_on_commit(lambda: login(bob).post(url(draft, "posting:draft_send"), form))
    assert response.status_code == 302, response.content.decode()[:2000]
    draft.refresh_from_db()
    post = draft.sent_post
    # The same video at the same cover second: the same frame, not made a second time.
    assert post.thumbnail.name == name and post.thumbnail.storage.exists(name)
    assert draft.thumbnail.name == ""
    assert no_forward == [post.pk]


def test_drafts_from_before_get_theirs_by_command(
    saved, login, bob, workspace, clip, run_on_commit, monkeypatch
):
    from io import StringIO

    from django.core.management import call_command

    monkeypatch.setattr(thumbnails, "draft_thumbnail_enqueue", lambda pk: None)
    older = save(login(bob), workspace, clip, run_on_commit)  # saved before thumbnails
    monkeypatch.undo()
    assert not older.thumbnail
    out = StringIO()
    call_command("thumbnails_missing", stdout=out)
    assert "1 thumbnails queued" in out.getvalue()
    assert abs(luma_of(older) - timed_luma(10)) < 2.5  # compose_data's cover: 1 s
