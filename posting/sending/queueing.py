"""The uploads cluster: queue a post's forward now, or a task of the sending room at a time.

Only a post's id goes to the queue, never a key. The task paths are stored in django-q's
tables, so they name the functions of ``posting.tasks`` (which must keep those names).
"""

from __future__ import annotations

from datetime import datetime

from django_q.models import Schedule
from django_q.tasks import async_task

from posting.models import Post

UPLOADS_CLUSTER = "uploads"
FORWARD_TASK = "posting.tasks.forward_post"
RECHECK_TASK = "posting.tasks.recheck_post"
EDIT_TASK = "posting.tasks.edit_post"


def enqueue_forward(post_id: int) -> None:
    """Queue the forward task on the uploads cluster (the post id only: never a key)."""
    async_task(FORWARD_TASK, post_id, cluster=UPLOADS_CLUSTER, task_name=f"forward post {post_id}")


def enqueue_edit(post_id: int) -> None:
    """Queue an edit's cancel and re-create (``posting.sending.edits``) on the uploads cluster."""
    async_task(EDIT_TASK, post_id, cluster=UPLOADS_CLUSTER, task_name=f"edit post {post_id}")


def schedule_once(func: str, post: Post, when: datetime, what: str) -> None:
    """Run ``func(post.pk)`` on the uploads cluster at ``when``.

    A ONCE schedule: the cluster's scheduler queues the task at ``when``, then deletes the
    schedule. Named per post, try and time, so one try never has two schedules and a later
    series of tries (after a person's retry) never meets an old name."""
    Schedule.objects.get_or_create(
        name=f"post {post.code} {what} {when:%Y%m%d%H%M%S}"[:100],
        defaults={
            "func": func,
            "args": repr((post.pk,)),
            "schedule_type": Schedule.ONCE,
            "next_run": when,
            "repeats": -1,
            "cluster": UPLOADS_CLUSTER,
        },
    )
