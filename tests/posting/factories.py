"""Mirror rows made directly (no Taisly): platforms, posts with per-platform results."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from posting.models import Platform, Post, PostResult

NETWORKS = ("TikTok", "Instagram", "YouTube", "X", "Facebook")


def make_platforms(workspace, networks=NETWORKS) -> dict[str, Platform]:
    return {
        network: Platform.objects.create(
            workspace=workspace,
            taisly_id=f"{workspace.pk}-{network.lower()}",
            network=network,
            name=f"@acme_{network.lower()}",
        )
        for network in networks
    }


def make_post(workspace, platforms: dict[str, Platform], results=None, **fields) -> Post:
    """A post with one result per ``results`` item: {"TikTok": "FAILED:CODE", "X": "SUCCESS"}."""
    fields.setdefault("state", Post.State.SENT)
    fields.setdefault("description", "A post")
    fields.setdefault("due_at", fields.get("created_at") or timezone.now())
    post = Post.objects.create(workspace=workspace, **fields)
    for network, outcome in (results or {}).items():
        status, _, code = outcome.partition(":")
        PostResult.objects.create(post=post, platform=platforms[network], status=status, code=code)
    return post


def bulk_posts(workspace, platforms: dict[str, Platform], count: int, *, author=None) -> None:
    """``count`` posts with three results each, spread over the past and next weeks."""
    now = timezone.now()
    networks = list(platforms.values())[:3]
    posts = Post.objects.bulk_create(
        Post(
            workspace=workspace,
            author=author,
            description=f"Bulk post {i}",
            state=Post.State.SENT,
            taisly_id=f"bulk-{workspace.pk}-{i}",
            created_at=now - timedelta(minutes=i),
            due_at=now + timedelta(minutes=7 * (i % 100)),
        )
        for i in range(count)
    )
    statuses = [PostResult.Status.SUCCESS, PostResult.Status.FAILED, PostResult.Status.PENDING]
    PostResult.objects.bulk_create(
        PostResult(
            post=post,
            platform=platform,
            status=statuses[(i + j) % 3],
            code="SANDBOX_FORCED_FAILURE" if statuses[(i + j) % 3] == "FAILED" else "",
        )
        for i, post in enumerate(posts)
        for j, platform in enumerate(networks)
    )
