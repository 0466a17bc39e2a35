"""The post page's "Retry failed platforms" box and its links between a post and its retries."""

from __future__ import annotations

from django import template

from posting.models import Post, PostResult
from posting.sending.retry import retry_plan

register = template.Library()


@register.inclusion_tag("posting/_retry_failed.html")
def retry_box(post: Post, access) -> dict:
    results = list(post.results.select_related("platform"))
    has_failed = any(r.status == PostResult.Status.FAILED for r in results)
    plan = retry_plan(post, results) if has_failed else None
    return {
        "post": post,
        "workspace": post.workspace,
        "can_write": access.can_write,
        "plan": plan,
        "retries": list(post.retries.order_by("created_at", "id")),
        "retry_of": post.retry_of,
    }
