"""What the mirror's pages read: when each part of a workspace's mirror was last synced."""

from __future__ import annotations

from posting.models import MirrorState, RepostRule


def mirror_of(workspace) -> MirrorState | None:
    """The workspace's sync state (None before its first sync); a read, never a write."""
    return MirrorState.objects.filter(workspace=workspace).first()


def repost_effects(workspace) -> list[RepostRule]:
    """The workspace's active (not paused) repost rules with their platforms, for the compose
    form's "will also get this" hints. Two queries (the rules, their target platforms)."""
    return list(
        RepostRule.objects.filter(workspace=workspace, paused=False)
        .select_related("from_platform")
        .prefetch_related("to_platforms")
        .order_by("from_platform__network", "created_at", "id")
    )
