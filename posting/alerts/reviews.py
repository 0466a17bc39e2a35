"""Review events as alerts (``posting.approvals``): a decision, a comment or a request for review
is one event, told to each of its people (the draft's watchers, or the reviewers of the stage
it waits at: ``posting.alerts.watchers`` says who) as one alert each, the way every alert
goes: the in-app list, an email by that person's own preference (``emails``: "immediately" or
the hourly digest; "off" sends none), and the workspace's webhooks, once per event whatever the
number of people told, as ``post.approved``, ``post.changes_requested``, ``post.commented``,
``post.held``, ``post.returned`` and ``post.review_requested``.

Unlike the mirror's alerts these are events, not states: each is made by the service that
acted, in its transaction (its row lock makes it once). The rows are one insert however many
people are told, and the emails one task per event (``alerts_email``: one email per person),
sent by a worker once the transaction commits: never in the request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django_q.tasks import async_task

from posting.alerts.emails import EMAIL_TASK
from posting.alerts.webhooks.delivery import deliveries_create, enqueue
from posting.models import Alert, Draft, Post

#: The longest message kept on the alert (a comment is longer: the draft page shows it all).
MESSAGE_MAX = 1000


@dataclass
class Told:
    """The alerts one act made (one per person), and the webhook deliveries queued for it."""

    alerts: list[Alert] = field(default_factory=list)
    deliveries: list[int] = field(default_factory=list)


def review_event(
    *,
    draft: Draft,
    kind: str,
    message: str,
    recipients: Iterable[int],
    post: Post | None = None,
    told: Told | None = None,
) -> Told:
    """One review event: an alert for each of ``recipients`` (user ids; each once, in order),
    and one webhook delivery per endpoint that wants ``kind``, even when nobody is told in the
    app (an actor alone on the draft). Inside the caller's transaction: the emails and webhook
    sends are queued once it commits. ``told``: an earlier event of the same act, so one
    email task covers both (one email per person for one act)."""
    if kind not in Alert.REVIEW_KINDS:
        raise ValueError(f"{kind!r} is not a review kind")
    people = list(dict.fromkeys(r for r in recipients if r is not None))
    fields = {
        "workspace_id": draft.workspace_id,
        "draft": draft,
        "post": post,
        "kind": kind,
        "message": (message or "")[:MESSAGE_MAX],
    }
    alerts = Alert.objects.bulk_create([Alert(recipient_id=pk, **fields) for pk in people])
    # The webhook is the event's, not each person's: the first alert carries it, or, told to
    # nobody in the app, an alert that is not kept (its delivery stands alone).
    carrier = alerts[0] if alerts else Alert(**fields)
    carrier.workspace = draft.workspace
    deliveries = deliveries_create([carrier])
    first = told is None
    told = told or Told()
    told.alerts += alerts
    told.deliveries += deliveries
    if first:
        transaction.on_commit(lambda: _dispatch(told))
    return told


def _dispatch(told: Told) -> None:
    if told.alerts:
        ids = [alert.pk for alert in told.alerts]
        async_task(EMAIL_TASK, ids, task_name=f"review alert emails ({len(ids)})", group="alerts")
    for delivery_id in told.deliveries:
        enqueue(delivery_id)


def review_alert(
    *,
    draft: Draft,
    kind: str,
    message: str,
    post: Post | None = None,
    recipient_id: int | None = None,
) -> Alert | None:
    """One review event told to one person: the draft's author, or ``recipient_id``."""
    told = review_event(
        draft=draft,
        kind=kind,
        message=message,
        recipients=[recipient_id or draft.author_id],
        post=post,
    )
    return told.alerts[0] if told.alerts else None


def post_commented(*, draft: Draft, comment: str, recipient_id: int | None = None) -> Alert | None:
    """A new comment on a draft told to its author (or ``recipient_id``), by email per their
    preference and as ``post.commented``. (The comments tell every watcher at once through
    ``review_event``: one webhook per comment.)"""
    return review_alert(
        draft=draft, kind=Alert.Kind.COMMENTED, message=comment, recipient_id=recipient_id
    )
