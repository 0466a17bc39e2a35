"""Many workspaces at once (bulk inserts), each with a key, a mirror, a post with a failed
result, a request in the ledger and an unread alert: for the fixed-query tests of the agency
overview and staff oversight."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts.models import Membership, TaislyConnection, Workspace
from posting.models import Alert, MirrorState, Platform, Post, PostResult, TaislyRequest


def grow(count: int, *, owner, prefix: str = "Client") -> list[Workspace]:
    now = timezone.now()
    start = Workspace.objects.count()
    workspaces = Workspace.objects.bulk_create(
        Workspace(name=f"{prefix} {start + i:04d}", created_by=owner) for i in range(count)
    )
    assert all(w.pk for w in workspaces)  # bulk_create returns ids (SQLite ≥ 3.35, PostgreSQL)
    Membership.objects.bulk_create(
        Membership(workspace=w, user=owner, role=Membership.Role.OWNER) for w in workspaces
    )
    plans = TaislyConnection.Plan.values
    TaislyConnection.objects.bulk_create(
        TaislyConnection(
            workspace=w,
            key_hint=f"taisly_…{i:04d}",
            plan=plans[i % len(plans)],
            key_fingerprint=f"fp-{w.pk}",
        )
        for i, w in enumerate(workspaces)
    )
    MirrorState.objects.bulk_create(
        MirrorState(workspace=w, history_synced_at=now) for w in workspaces
    )
    platforms = Platform.objects.bulk_create(
        Platform(workspace=w, taisly_id=f"p-{w.pk}", network="TikTok") for w in workspaces
    )
    posts = Post.objects.bulk_create(
        Post(
            workspace=w,
            description="bulk",
            state=Post.State.SENT,
            due_at=now - timedelta(days=1),
            taisly_id=f"t-{w.pk}",
        )
        for w in workspaces
    )
    Post.objects.bulk_create(
        Post(workspace=w, description="later", state=Post.State.SENT, due_at=now + HOUR)
        for w in workspaces
    )
    PostResult.objects.bulk_create(
        PostResult(post=p, platform=pl, status=PostResult.Status.FAILED, code="BULK")
        for p, pl in zip(posts, platforms, strict=True)
    )
    connections = TaislyConnection.objects.filter(workspace__in=workspaces)
    TaislyRequest.objects.bulk_create(
        TaislyRequest(connection=c, fingerprint=c.key_fingerprint, endpoint="history", status=200)
        for c in connections.defer("api_key")
    )
    Alert.objects.bulk_create(
        Alert(workspace=w, post=p, kind=Alert.Kind.SEND_FAILED)
        for w, p in zip(workspaces, posts, strict=True)
    )
    return workspaces


HOUR = timedelta(hours=1)
