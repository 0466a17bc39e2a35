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


def repost_hints(workspace) -> list[dict]:
    """The active repost rules as the post pages say them ("Instagram will also get this, by
    the rule TikTok → Instagram"): ``from_id`` (the Taisly id of the account that triggers
    it), ``source`` and ``targets`` (networks). The queries of ``repost_effects``."""
    return [
        {
            "from_id": rule.from_platform.taisly_id,
            "source": rule.from_platform.network,
            "targets": ", ".join(p.network for p in rule.to_platforms.all()),
        }
        for rule in repost_effects(workspace)
    ]


def hints_for(hints: list[dict], taisly_ids) -> list[dict]:
    """Those of ``hints`` (``repost_hints``) a post to the accounts ``taisly_ids`` triggers."""
    ids = {str(i) for i in taisly_ids}
    return [hint for hint in hints if hint["from_id"] in ids]
