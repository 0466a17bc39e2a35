"""What the post page reads besides the post itself: its retries and the retry it may make."""

from __future__ import annotations

from dataclasses import dataclass

from posting.models import Post, PostResult
from posting.sending.retry import RetryPlan, retry_plan


@dataclass(frozen=True)
class RetryBox:
    """The post page's "Retry failed platforms" box: the plan (None when nothing failed), the
    retries already made of this post, and the post this one retries (if it is a retry)."""

    plan: RetryPlan | None
    retries: list[Post]
    retry_of: Post | None


def retry_box(post: Post, results: list[PostResult]) -> RetryBox:
    """The box for ``post``, from the ``results`` the page has already read (with their
    platforms): one query for the retries, one for the original when this is a retry."""
    failed = any(r.status == PostResult.Status.FAILED for r in results)
    return RetryBox(
        plan=retry_plan(post, results) if failed else None,
        retries=list(post.retries.order_by("created_at", "id")),
        retry_of=post.retry_of,
    )
