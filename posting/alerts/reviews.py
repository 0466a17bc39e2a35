"""Review decisions as alerts (``posting.approvals``): each is for one person, the draft's
author, and goes the way every alert goes: the in-app list, an email by that person's own
preference (``emails``: "immediately" or the hourly digest; "off" sends none), and the
workspace's webhooks, as ``post.approved``, ``post.changes_requested``, ``post.commented``,
``post.held`` and ``post.returned``.

Unlike the mirror's alerts these are events, not states: each decision is one alert, made by
the service that decided, in its transaction (its row lock makes it once)."""

from __future__ import annotations

from django.db import transaction
from django_q.tasks import async_task

from posting.alerts.emails import EMAIL_TASK
from posting.alerts.webhooks.delivery import deliveries_create, enqueue
from posting.models import Alert, Draft, Post

#: The longest message kept on the alert (a comment is longer: the draft page shows it all).
MESSAGE_MAX = 1000


def review_alert(
    *,
    draft: Draft,
    kind: str,
    message: str,
    post: Post | None = None,
    recipient_id: int | None = None,
) -> Alert:
    """Tell the draft's author (or ``recipient_id``) of a review event; inside the caller's
    transaction: the email and webhook sends are queued once it commits."""
    if kind not in Alert.REVIEW_KINDS:
        raise ValueError(f"{kind!r} is not a review kind")
    alert = Alert.objects.create(
        workspace_id=draft.workspace_id,
        draft=draft,
        post=post,
        recipient_id=recipient_id or draft.author_id,
        kind=kind,
        message=(message or "")[:MESSAGE_MAX],
    )
    deliveries = deliveries_create([alert])

    def after_commit() -> None:
        async_task(EMAIL_TASK, [alert.pk], task_name="review alert email", group="alerts")
        for delivery_id in deliveries:
            enqueue(delivery_id)

    transaction.on_commit(after_commit)
    return alert


def post_commented(*, draft: Draft, comment: str, recipient_id: int | None = None) -> Alert:
    """The hook the comments call: a new comment on a draft, told to its author (or the
    mentioned ``recipient_id``), by email per their preference and as ``post.commented``."""
    return review_alert(
        draft=draft, kind=Alert.Kind.COMMENTED, message=comment, recipient_id=recipient_id
    )
