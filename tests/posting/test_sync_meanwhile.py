"""A post the uploads worker schedules at Taisly while a history sync is on its way (the history
read before Taisly had it, applied after the worker stored its Taisly id) is no "cancelled in
Taisly's app": the sync judges only rows unchanged since its request left (``updated_at``), so
storing the Taisly id must write ``updated_at``. A calendar move re-makes the post this way, so
a sync at that moment marked a moved post CANCELLED while it was scheduled at Taisly."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from posting.mirror import sync
from posting.models import Post
from posting.sending import outcomes

pytestmark = pytest.mark.django_db


def test_a_post_sent_while_a_sync_was_at_taisly_is_not_marked_cancelled(workspace):
    earlier = timezone.now() - timedelta(hours=1)
    due = timezone.now() + timedelta(hours=2)
    post = Post.objects.create(
        workspace=workspace, state=Post.State.SENDING, scheduled_at=due, due_at=due
    )
    Post.objects.filter(pk=post.pk).update(updated_at=earlier)  # asked for an hour ago
    sync_began = timezone.now()  # the sync's request leaves; Taisly has no such post yet
    # The worker's upload ends: Taisly has the post, and its id is stored.
    outcomes._set_sent(post, "made-meanwhile", due, timezone.now(), (Post.State.SENDING,))

    summary = sync.history_store(
        workspace=workspace,
        posts=[],  # the answer, read before the post was made
        start=sync_began - timedelta(days=1),
        end=sync_began + timedelta(days=7),
        now=sync_began,
    )

    post.refresh_from_db()
    assert summary.removed_posts == 0
    assert post.state == Post.State.SENT and post.taisly_id == "made-meanwhile"
