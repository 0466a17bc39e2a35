"""A send that may or may not have reached Taisly, checked against Taisly's history.

    ambiguous send ──against_history──> posts in history around the send time that could be it:
        exactly one ─> adopted: SENT as that post (audited POST_ADOPTED, automatic)
        none ───────> "none" (the forward decides: retry, or NEEDS_CHECK)
        several ────> kept on the post as candidates, for a person to choose
        history unreadable ─> "error"

``post_recheck`` (a schedule after NEEDS_CHECK, or a person's "read again") runs the same check.
Candidates are stored as JSON on the post; ``candidate_from_json`` reads one back when a person
adopts it (``posting.sending.decisions``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.access import lock_writer
from accounts.audit import audit_record
from accounts.models import AuditEvent, User
from posting import taisly
from posting.models import Platform, Post
from posting.sending import outcomes
from posting.taisly.gateway import TaislyActionError, taisly_for

logger = logging.getLogger(__name__)

State = Post.State
# History is read this far either side of the send when looking for a post that may exist.
MATCH_WINDOW = timedelta(minutes=10)


def post_recheck(*, post_id: int, actor: User | None = None, request=None) -> str:
    """Read history again for a NEEDS_CHECK post; adopts it when exactly one post matches."""
    post = Post.objects.select_related("workspace").filter(pk=post_id).first()
    if post is None or post.state != State.NEEDS_CHECK:
        return "not needed"
    if actor is not None:
        with transaction.atomic():
            lock_writer(workspace=post.workspace, actor=actor)
    return against_history(post, list(post.target_platforms.all()), actor=actor)


def against_history(post: Post, targets: list[Platform], actor: User | None = None) -> str:
    """Look for the post in Taisly's history: "adopted" (exactly one match, now SENT), "none",
    "several" (kept as candidates for a person) or "error" (history could not be read)."""
    try:
        candidates = _candidates(post, targets)
    except TaislyActionError as exc:
        logger.info("Post %s: history could not be read: %s", post.code, exc.message)
        return "error"
    if len(candidates) == 1:
        only = candidates[0]
        adopted = outcomes.mark_sent(
            post,
            only.id,
            only.results,
            scheduled=only.scheduled,
            from_states=(State.SENDING, State.NEEDS_CHECK),
            due_at=only.date,
        )
        if adopted:
            audit_record(
                workspace=post.workspace,
                actor=actor,
                action=AuditEvent.Action.POST_ADOPTED,
                target=str(post.code),
                details={"taisly_id": only.id, "automatic": True},
            )
            return "adopted"
    Post.objects.filter(pk=post.pk).update(send_candidates=[_candidate_json(c) for c in candidates])
    return "none" if not candidates else "several"


def candidate_from_json(data: dict) -> tuple[str, list[taisly.PostResult], datetime | None]:
    """A candidate as stored on the post: its Taisly id, its results, and when it goes out."""
    results = [
        taisly.PostResult(
            platform_id=r.get("platform_id"),
            network=r.get("network"),
            status=r.get("status") or "PENDING",
            message=r.get("message"),
            repost_of=r.get("repost_of"),
        )
        for r in data.get("results", [])
    ]
    date = datetime.fromisoformat(data["date"]) if data.get("date") else None
    return data["id"], results, date


def _candidates(post: Post, targets: list[Platform]) -> list[taisly.HistoryPost]:
    """Posts in Taisly's history that could be this one: same platforms and description, made
    around the time it was sent, and not already another post of this workspace."""
    started = post.sending_started_at or post.created_at
    now = timezone.now()
    windows = [(started - MATCH_WINDOW, now + MATCH_WINDOW)]
    if post.scheduled_at:
        windows.append((post.scheduled_at - MATCH_WINDOW, post.scheduled_at + MATCH_WINDOW))
    wanted = {p.taisly_id for p in targets}
    found: dict[str, taisly.HistoryPost] = {}
    with taisly_for(post.workspace) as client:
        for start, end in windows:
            for item in client.history_between(start, end):
                found.setdefault(item.id, item)
    known = set(
        Post.objects.filter(workspace=post.workspace, taisly_id__in=list(found))
        .exclude(pk=post.pk)
        .exclude(origin=Post.Origin.HISTORY)
        .values_list("taisly_id", flat=True)
    )
    matches = []
    for item in found.values():
        direct = {r.platform_id for r in item.results if not r.repost_of}
        made = item.created_at or item.date
        if (
            item.id not in known
            and direct == wanted
            and (item.description or "").strip() == post.description.strip()
            and (made is None or started - MATCH_WINDOW <= made <= now + MATCH_WINDOW)
        ):
            matches.append(item)
    return matches


def _candidate_json(item: taisly.HistoryPost) -> dict:
    return {
        "id": item.id,
        "description": item.description,
        "date": item.date.isoformat() if item.date else None,
        "created_at": item.created_at.isoformat() if item.created_at else None,
        "scheduled": item.scheduled,
        "results": [
            {
                "platform_id": r.platform_id,
                "network": r.network,
                "status": r.status,
                "message": r.message,
                "repost_of": r.repost_of,
            }
            for r in item.results
        ],
    }
