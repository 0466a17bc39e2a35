"""How often an open post page asks the local mirror again, until every platform has settled.

The page polls its own fragment (``posting:post_progress``), which reads only the mirror: it never
calls Taisly. The background sync reads Taisly when results are due
(``posting.mirror.background``); this only decides when the page looks at what it stored.

    QUEUED, SENDING                      every second (the forward's percentage moves), or when
                                         the next try is due, at most POLL_LONGEST apart
    SENT, a result PENDING (or none yet) every 2 s for 15 s after it went out, then 5 s to two
                                         minutes, 10 s to ten, then 20 s (POLL_STEPS, a few
                                         local queries each); a scheduled post not yet
                                         due: when it is due, at most POLL_LONGEST_AHEAD apart
    anything else (every platform final, SEND_FAILED, NEEDS_CHECK, CANCELLED)   no polling
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone

from posting.models import Post, PostResult

#: (in flight for less than this many seconds, ask again after this many).
POLL_STEPS: tuple[tuple[float, int], ...] = ((15, 2), (120, 5), (600, 10))
POLL_LONGEST = 20
POLL_LONGEST_AHEAD = 60
#: Without JavaScript, the page reloads itself this often while something is in flight.
NOSCRIPT_REFRESH = 15


def settled(post: Post, results: Sequence[PostResult]) -> bool:
    """Whether nothing about the post can change without a person: every platform final, or
    the dashboard stopped (failed, needs a check, cancelled)."""
    if post.is_local_pending:
        return False
    if post.state != Post.State.SENT:
        return True
    return bool(results) and all(r.status != PostResult.Status.PENDING for r in results)


def poll_after(
    post: Post, results: Sequence[PostResult], now: datetime | None = None
) -> int | None:
    """Seconds until the page should ask again; None once the post has settled."""
    if settled(post, results):
        return None
    now = now or timezone.now()
    if post.is_local_pending:
        if post.next_attempt_at and post.next_attempt_at > now:
            return _clamp((post.next_attempt_at - now).total_seconds(), 1, POLL_LONGEST)
        return 1
    went_out = post.due_at or post.sent_at or post.created_at
    if went_out > now:
        return _clamp((went_out - now).total_seconds(), 2, POLL_LONGEST_AHEAD)
    age = (now - went_out).total_seconds()
    for below, every in POLL_STEPS:
        if age < below:
            return every
    return POLL_LONGEST


def _clamp(seconds: float, low: int, high: int) -> int:
    return max(low, min(high, math.ceil(seconds)))
