"""Retry failed platforms, through the dashboard against the sandbox: only the failed platform
gets the new post; refusals are sentences; both posts link to each other; audited."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from posting.mirror import sync
from posting.models import Post, PostResult
from tests.posting.upload_fixtures import *  # noqa: F403
from tests.posting.upload_fixtures import compose_data, compose_url, sandbox_posts

pytestmark = pytest.mark.django_db(transaction=True)


def _post_failing_on_tiktok(client, workspace, video_file, tags="") -> Post:
    payload = compose_data(workspace, description=f"Retry me #fail:TikTok {tags}".strip())
    with open(video_file(), "rb") as fh:
        payload["video"] = fh
        client.post(compose_url(workspace), payload)
    return Post.objects.get(workspace=workspace, retry_of=None)


def retry_url(post) -> str:
    return reverse(
        "posting:post_retry_failed", kwargs={"code": post.workspace.code, "post_code": post.code}
    )


def test_retry_failed_platforms_posts_only_to_the_failed_one(
    workspace, alice, bob, connected_ws, sandbox, video_file, login
):
    client = login(bob)
    post = _post_failing_on_tiktok(client, workspace, video_file)
    assert post.state == Post.State.SENT

    # Nothing failed yet (both PENDING): refused with a sentence, nothing made.
    response = client.post(retry_url(post), follow=True)
    assert "nothing to retry" in response.content.decode()
    assert Post.objects.count() == 1

    sandbox.advance(5)
    sync.history_sync(workspace=workspace)
    statuses = {r.platform.network: r.status for r in post.results.select_related("platform")}
    assert statuses == {"TikTok": "FAILED", "Instagram": "SUCCESS"}
    page = client.get(
        reverse("posting:post", kwargs={"code": workspace.code, "post_code": post.code})
    )
    assert 'data-testid="retry-failed"' in page.content.decode()

    response = client.post(retry_url(post))
    retry = Post.objects.get(retry_of=post)
    assert response.status_code == 302
    assert response["Location"].endswith(f"/posts/{retry.code}/")
    assert retry.state == Post.State.SENT
    assert [p.network for p in retry.target_platforms.all()] == ["TikTok"]
    assert [r.platform.network for r in retry.results.select_related("platform")] == ["TikTok"]
    assert list(post.retries.all()) == [retry]
    # Taisly got a second post, for TikTok alone.
    taisly_posts = sandbox_posts(sandbox, connected_ws["api_key"])
    assert len(taisly_posts) == 2
    newest = next(p for p in taisly_posts if p["id"] == retry.taisly_id)
    assert len(newest["result"]) == 1
    event = AuditEvent.objects.get(action="post.retried_failed")
    assert event.details["retry_of"] == str(post.code) and event.details["platforms"] == ["TikTok"]
    assert event.actor == bob

    # Once retried, the same platforms are not retried again.
    response = client.post(retry_url(post), follow=True)
    assert "retried already" in response.content.decode()
    assert Post.objects.filter(retry_of=post).count() == 1
    # The retry's page links back.
    page = client.get(
        reverse("posting:post", kwargs={"code": workspace.code, "post_code": retry.code})
    )
    assert 'data-testid="retry-of"' in page.content.decode()


def test_retry_is_refused_once_the_video_is_gone(
    workspace, alice, bob, connected_ws, sandbox, video_file, login
):
    client = login(bob)
    post = _post_failing_on_tiktok(client, workspace, video_file)
    sandbox.advance(5)
    sync.history_sync(workspace=workspace)
    post.video.delete(save=False)
    Post.objects.filter(pk=post.pk).update(video="", video_deleted_at=timezone.now())

    response = client.post(retry_url(post), follow=True)
    assert "no longer kept" in response.content.decode()
    assert not Post.objects.filter(retry_of=post).exists()
    assert post.results.filter(status=PostResult.Status.FAILED).count() == 1


def test_a_viewer_cannot_retry(workspace, vera, connected_ws, login):
    post = Post.objects.create(workspace=workspace, state=Post.State.SENT)
    assert login(vera).post(retry_url(post)).status_code == 403


def test_retry_is_refused_while_a_platform_is_still_pending(
    workspace, bob, connected_ws, sandbox, video_file, login
):
    client = login(bob)
    post = _post_failing_on_tiktok(client, workspace, video_file, tags="#stuck:Instagram")
    sandbox.advance(5)
    sync.history_sync(workspace=workspace)
    assert post.results.filter(status=PostResult.Status.FAILED).count() == 1
    response = client.post(retry_url(post), follow=True)
    assert "still pending" in response.content.decode()
    assert not Post.objects.filter(retry_of=post).exists()
