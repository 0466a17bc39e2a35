"""The calendar's move page. Two moves of one scheduled post at the same moment, from two web
processes (threads with their own PostgreSQL connections, over the move form): the post's row
lock and its EDITING state order them, so one is made and the other is refused with a sentence,
and Taisly (the sandbox over HTTP) ends with exactly one post, at the winner's time. The page's
queries do not grow with the post's captions."""

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
from tests.posting.factories import make_platforms
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


def _scheduled_group(workspace, platforms, captions: int) -> Post:
    """A post scheduled at Taisly with ``captions`` captions (a lead and its members)."""
    when = timezone.now() + timedelta(days=2)
    networks = list(platforms.values())
    lead = None
    for index in range(captions):
        row = Post.objects.create(
            workspace=workspace,
            state=Post.State.SENT,
            taisly_id=f"t-{captions}-{index}",
            description=f"Caption {index}",
            video="videos/kept.mp4",
            scheduled_at=when,
            due_at=when,
            group=lead,
        )
        row.target_platforms.set([networks[index]])
        lead = lead or row
    return lead


def test_the_move_page_runs_the_same_queries_whatever_the_captions(
    login, bob, workspace, django_assert_num_queries
):
    platforms = make_platforms(workspace)
    two = _scheduled_group(workspace, platforms, 2)
    four = _scheduled_group(workspace, platforms, 4)
    client = login(bob)
    client.get(move_url(two))  # anything read once a process
    # session, user, memberships, the post, its accounts, the group's members, their accounts:
    # the members' accounts come in one query, however many captions
    with django_assert_num_queries(7):
        assert client.get(move_url(two)).status_code == 200
    with django_assert_num_queries(7):
        assert client.get(move_url(four)).status_code == 200
