"""What the mirror's pages read: when each part of a workspace's mirror was last synced."""

from __future__ import annotations

from posting.models import MirrorState


def mirror_of(workspace) -> MirrorState | None:
    """The workspace's sync state (None before its first sync); a read, never a write."""
    return MirrorState.objects.filter(workspace=workspace).first()
