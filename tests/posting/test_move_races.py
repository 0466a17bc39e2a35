"""Two calendar moves of one scheduled post at the same moment, from two web processes (threads
with their own PostgreSQL connections, over the move form): the post's row lock and its EDITING
state order them, so one is made and the other is refused with a sentence, and Taisly (the
sandbox over HTTP) ends with exactly one post, at the winner's time."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent
from posting import tasks
from posting.models import Post
from tests.posting.test_calendar_planning import move_url
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import in_sandbox

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.postgres_only
def test_two_moves_of_one_post_at_once_make_one_taisly_post(
    login, alice, bob, scheduled, queue, sandbox, connected_ws
):
    barrier = threading.Barrier(2)
    answers: dict[str, tuple[int, str]] = {}
    times = {
        "alice": (scheduled.scheduled_at + timedelta(days=1)).replace(second=0, microsecond=0),
        "bob": (scheduled.scheduled_at + timedelta(days=2)).replace(second=0, microsecond=0),
    }
    clients = {"alice": login(alice), "bob": login(bob)}

    def move(name: str, client: Client) -> None:
        moment = timezone.localtime(times[name])
        try:
            barrier.wait(timeout=10)
            response = client.post(
                move_url(scheduled), {"day": f"{moment:%Y-%m-%d}", "time": f"{moment:%H:%M}"}
            )
            answers[name] = (response.status_code, response.content.decode())
        finally:
            connection.close()

    threads = [threading.Thread(target=move, args=item) for item in clients.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    codes = sorted(code for code, _html in answers.values())
    assert codes == [302, 409], codes
    [winner] = [name for name, (code, _html) in answers.items() if code == 302]
    [loser_html] = [html for code, html in answers.values() if code == 409]
    assert "being edited" in loser_html
    assert AuditEvent.objects.filter(action=AuditEvent.Action.POST_EDIT_REQUESTED).count() == 1
    assert queue == [("edit", scheduled.pk)]
    assert tasks.edit_post(scheduled.pk) == "edited"
    assert tasks.forward_post(scheduled.pk) == "sent"
    scheduled.refresh_from_db()
    [made] = in_sandbox(sandbox, connected_ws)
    assert made["id"] == scheduled.taisly_id
    assert scheduled.scheduled_at == times[winner] and Post.objects.count() == 1
