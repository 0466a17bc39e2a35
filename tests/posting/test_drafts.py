"""Drafts: saved from the compose form without any Taisly request (the video kept and counted
against the workspace's storage), listed on their own page, edited, sent later through the
uploads worker against the sandbox over HTTP, deleted with their video, and never touched by
retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from posting import tasks
from posting.models import Draft, Post
from posting.sending import cleanup, limits
from tests.posting.sandbox_posts import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_data, sandbox_posts, save_draft

pytestmark = pytest.mark.django_db(transaction=True)


def draft_create_url(workspace) -> str:
    return reverse("posting:draft_create", kwargs={"code": workspace.code})


def draft_url(draft, name="posting:draft") -> str:
    return reverse(name, kwargs={"code": draft.workspace.code, "draft_code": draft.code})


def drafts_url(workspace) -> str:
    return reverse("posting:drafts", kwargs={"code": workspace.code})


def test_saving_a_draft_keeps_the_video_and_asks_taisly_nothing(
    login,
    bob,
    workspace,
    connected_ws,
    video_file,
    calls,
    no_queue,
):
    response, _payload = save_draft(login(bob), workspace, video_file(), description="Later")
    draft = Draft.objects.get()
    assert response.status_code == 302 and response["Location"] == draft_url(draft)
    assert calls == [] and no_queue == [] and not Post.objects.exists()
    assert draft.description == "Later" and draft.video and draft.video_size > 0
    assert draft.video.storage.exists(draft.video.name)
    assert sorted(p.network for p in draft.target_platforms.all()) == ["Instagram", "TikTok"]
    # The kept video counts against the workspace's storage.
    assert limits.workspace_storage(workspace).used == draft.video_size
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DRAFT_SAVED).count() == 1


def test_a_double_click_saves_one_draft(login, bob, workspace, connected_ws, video_file):
    client = login(bob)
    payload = compose_data(workspace)
    for _ in range(2):
        with open(video_file(), "rb") as fh:
            response = client.post(draft_create_url(workspace), {**payload, "video": fh})
        assert response.status_code == 302
    assert Draft.objects.count() == 1


def test_a_draft_that_would_pass_the_storage_limit_is_refused(
    settings, login, bob, workspace, connected_ws, video_file
):
    settings.WORKSPACE_VIDEO_STORAGE_MB = 0.001
    response, _payload = save_draft(login(bob), workspace, video_file())
    assert response.status_code == 422
    assert "does not fit" in response.content.decode()
    assert not Draft.objects.exists()


def test_the_drafts_page_lists_them_with_a_fixed_number_of_queries(
    login, bob, workspace, connected_ws, video_file, django_assert_num_queries
):
    client = login(bob)
    for n in range(3):
        save_draft(client, workspace, video_file(), description=f"Draft {n}")
    # session, user, memberships (access and navigation), the count, the drafts with their
    # authors, their accounts
    with django_assert_num_queries(6):
        response = client.get(drafts_url(workspace))
    html = response.content.decode()
    assert response.status_code == 200 and html.count('data-testid="draft-row"') == 3
    for n in range(3):
        save_draft(client, workspace, video_file(), description=f"More {n}")
    with django_assert_num_queries(6):
        assert client.get(drafts_url(workspace)).content.decode().count("draft-row") == 6
    # Linked from the navigation and the history.
    history = client.get(reverse("posting:history", kwargs={"code": workspace.code}))
    assert drafts_url(workspace) in history.content.decode()
    assert 'data-testid="nav-drafts"' in history.content.decode()


def test_a_draft_is_edited_then_sent_later_as_a_scheduled_post(
    login,
    bob,
    workspace,
    connected_ws,
    video_file,
    sandbox,
    no_queue,
    calls,
):
    client = login(bob)
    save_draft(client, workspace, video_file(), description="First words")
    draft = Draft.objects.get()
    page = client.get(draft_url(draft))
    assert page.status_code == 200 and "First words" in page.content.decode()

    when = timezone.localtime() + timedelta(days=2)
    edited = compose_data(
        workspace,
        networks=("TikTok", "YouTube"),
        description="Better words",
        when="later",
        scheduled_at=when.strftime("%Y-%m-%dT%H:%M"),
    )
    response = client.post(draft_url(draft), edited)
    assert response.status_code == 302, response.content.decode()[:2000]
    draft.refresh_from_db()
    assert draft.description == "Better words" and draft.scheduled_at is not None
    assert calls == [] and not Post.objects.exists()

    response = client.post(draft_url(draft, "posting:draft_send"), edited)
    post = Post.objects.get()
    assert response.status_code == 302 and str(post.code) in response["Location"]
    assert no_queue == [post.pk] and post.state == Post.State.QUEUED
    draft.refresh_from_db()
    assert draft.sent_post == post and draft.sent_at and not draft.video
    # The post owns the file now: counted once.
    assert limits.workspace_storage(workspace).used == post.video_size
    assert tasks.forward_post(post.pk) == "sent"
    post.refresh_from_db()
    assert post.thumbnail  # the sent draft's post gets its frame, as a composed one does
    [made] = sandbox_posts(sandbox, connected_ws["api_key"])
    post.refresh_from_db()
    assert made["id"] == post.taisly_id and made["description"] == "Better words"
    assert made["scheduled"] is True
    # A second click of "Post" leads to the post the first made, and sends nothing.
    again = client.post(draft_url(draft, "posting:draft_send"), edited)
    assert again.status_code == 302 and str(post.code) in again["Location"]
    assert Post.objects.count() == 1
    assert client.get(drafts_url(workspace)).content.decode().count("draft-row") == 0
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DRAFT_SENT).count() == 1


def test_a_draft_with_a_passed_time_is_not_sent(login, bob, workspace, connected_ws, video_file):
    client = login(bob)
    when = timezone.localtime() + timedelta(hours=1)
    save_draft(
        client, workspace, video_file(), when="later", scheduled_at=when.strftime("%Y-%m-%dT%H:%M")
    )
    draft = Draft.objects.get()
    Draft.objects.filter(pk=draft.pk).update(scheduled_at=timezone.now() - timedelta(minutes=1))
    from posting.sending import drafts

    draft.refresh_from_db()
    with pytest.raises(drafts.PostActionError, match="planned time has passed"):
        drafts.draft_send(draft=draft, actor=bob)
    assert not Post.objects.exists()


def test_replacing_a_drafts_video_deletes_the_old_file(
    login, bob, workspace, connected_ws, video_file
):
    client = login(bob)
    save_draft(client, workspace, video_file())
    draft = Draft.objects.get()
    old = draft.video.name
    payload = compose_data(workspace)
    with open(video_file("other.mp4", seconds=5), "rb") as fh:
        response = client.post(draft_url(draft), {**payload, "video": fh})
    assert response.status_code == 302, response.content.decode()[:2000]
    draft.refresh_from_db()
    assert draft.video.name != old and draft.video_name.endswith("other.mp4")
    assert draft.video.storage.exists(draft.video.name)
    assert not draft.video.storage.exists(old)


def test_deleting_a_draft_deletes_its_video(login, bob, workspace, connected_ws, video_file):
    client = login(bob)
    save_draft(client, workspace, video_file())
    draft = Draft.objects.get()
    name = draft.video.name
    response = client.post(draft_url(draft, "posting:draft_delete"))
    assert response.status_code == 302 and response["Location"] == drafts_url(workspace)
    assert not Draft.objects.exists()
    assert not draft.video.storage.exists(name)
    assert limits.workspace_storage(workspace).used == 0


def test_retention_never_deletes_a_drafts_video(
    settings, login, bob, workspace, connected_ws, video_file
):
    save_draft(login(bob), workspace, video_file())
    draft = Draft.objects.get()
    Draft.objects.filter(pk=draft.pk).update(created_at=timezone.now() - timedelta(days=400))
    later = timezone.now() + timedelta(days=settings.POST_VIDEO_RETAIN_DAYS * 10)
    cleanup.videos_cleanup(now=later)
    draft.refresh_from_db()
    assert draft.video and draft.video.storage.exists(draft.video.name)


def test_who_may_see_and_change_drafts(
    login, bob, vera, charlie, workspace, connected_ws, video_file
):
    save_draft(login(bob), workspace, video_file())
    draft = Draft.objects.get()
    viewer = login(vera)
    assert viewer.get(drafts_url(workspace)).status_code == 200
    page = viewer.get(draft_url(draft))
    assert page.status_code == 200 and 'data-testid="draft-send"' not in page.content.decode()
    assert viewer.post(draft_url(draft), compose_data(workspace)).status_code == 403
    assert viewer.post(draft_url(draft, "posting:draft_send")).status_code == 403
    assert viewer.post(draft_url(draft, "posting:draft_delete")).status_code == 403
    outsider = login(charlie)
    assert outsider.get(drafts_url(workspace)).status_code == 404
    assert outsider.get(draft_url(draft)).status_code == 404
    assert outsider.post(draft_url(draft, "posting:draft_delete")).status_code == 404
    assert login(bob).put(draft_url(draft)).status_code == 405
    assert login(bob).get(draft_url(draft, "posting:draft_delete")).status_code == 405
    assert Draft.objects.count() == 1
