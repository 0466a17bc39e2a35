"""Posting slots and the queue: slots in the workspace's time zone, "Add to queue" at the next
free slot (chosen under the workspace's lock: two at once get two slots), the slots and queue
pages (who may change them, their queries) and reordering."""

from __future__ import annotations

import threading
import zoneinfo
from datetime import datetime, time, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.access import RoleRequired
from accounts.models import AuditEvent, Workspace
from accounts.services import workspace_create, workspace_set_time_zone
from posting.models import SLOTS_MAX, Draft, Post, PostingSlot
from posting.planning.slots import slot_times_between
from posting.sending import queueing, slots
from posting.sending.errors import PostActionError
from posting.sending.queue import queue_swap
from tests.posting.test_upload import post_form
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_data, platform

pytestmark = pytest.mark.django_db(transaction=True)

JAKARTA = zoneinfo.ZoneInfo("Asia/Jakarta")


def slots_url(workspace) -> str:
    return reverse("posting:slots", kwargs={"code": workspace.code})


def queue_url(workspace) -> str:
    return reverse("posting:queue", kwargs={"code": workspace.code})


@pytest.fixture
def no_queue(monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(queueing, "enqueue_forward", queued.append)
    return queued


def add_slots(workspace, days, hhmm: str) -> None:
    hour, minute = map(int, hhmm.split(":"))
    for day in days:
        PostingSlot.objects.create(workspace=workspace, weekday=day, time=time(hour, minute))


# --- Time zone ----------------------------------------------------------------------------------


def test_a_new_workspace_takes_its_creators_time_zone_and_owners_change_it(
    login, alice, bob, workspace
):
    alice.timezone = "Asia/Jakarta"
    alice.save()
    made = workspace_create(name="Client", owner=alice)
    assert made.time_zone == "Asia/Jakarta"
    url = reverse("accounts:workspace_time_zone", kwargs={"code": workspace.code})
    response = login(alice).post(url, {"time_zone": "Nowhere/Else"})
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()
    response = login(alice).post(url, {"time_zone": "Europe/Paris"})
    assert response.status_code == 302
    workspace.refresh_from_db()
    assert workspace.time_zone == "Europe/Paris"
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.WORKSPACE_TIME_ZONE_CHANGED, target="Europe/Paris"
    ).exists()
    # Editors do not (the page and the service both refuse).
    assert login(bob).post(url, {"time_zone": "UTC"}).status_code == 403
    with pytest.raises(RoleRequired):
        workspace_set_time_zone(workspace=workspace, time_zone="UTC", actor=bob)
    workspace.refresh_from_db()
    assert workspace.time_zone == "Europe/Paris"


# --- Occurrences and the next free slot ---------------------------------------------------------


def test_occurrences_are_in_the_workspace_time_zone_and_taken_ones_are_skipped(
    workspace, django_assert_num_queries
):
    Workspace.objects.filter(pk=workspace.pk).update(time_zone="Asia/Jakarta")
    workspace.refresh_from_db()
    add_slots(workspace, [0, 2], "09:00")  # Monday and Wednesday, 09:00 in Jakarta (UTC+7)
    # Sunday 6 Dec 2026, 12:00 UTC.
    now = datetime(2026, 12, 6, 12, 0, tzinfo=zoneinfo.ZoneInfo("UTC"))
    first = slots.next_free_slot(workspace, now=now)
    assert first == datetime(2026, 12, 7, 9, 0, tzinfo=JAKARTA)
    assert first.astimezone(zoneinfo.ZoneInfo("UTC")).hour == 2
    Post.objects.create(workspace=workspace, state=Post.State.SENT, due_at=first)
    second = slots.next_free_slot(workspace, now=now)
    assert second == datetime(2026, 12, 9, 9, 0, tzinfo=JAKARTA)
    # A cancelled post frees its slot again.
    Post.objects.filter(due_at=first).update(state=Post.State.CANCELLED)
    assert slots.next_free_slot(workspace, now=now) == first
    # The calendar's selector: each occurrence and whether it is taken, in two queries.
    Post.objects.create(workspace=workspace, state=Post.State.QUEUED, due_at=second)
    with django_assert_num_queries(2):
        week = slot_times_between(workspace, now, now + timedelta(days=7))
    assert week == [(first, False), (second, True)]


def test_no_slots_or_every_slot_taken_is_said_and_nothing_is_made(
    settings, login, bob, workspace, connected_ws, video_file, no_queue
):
    client = login(bob)
    response, _payload = post_form(client, workspace, video_file(), when="queue", description="Hi")
    html = response.content.decode()
    assert response.status_code == 422
    assert "no posting slots yet" in html and slots_url(workspace) in html
    assert "Hi</textarea>" in html  # what was typed is kept
    assert not Post.objects.exists() and no_queue == []
    # Slots, all taken within the horizon: a sentence from the service, under the lock.
    settings.POST_SCHEDULE_MAX_DAYS = 3
    add_slots(workspace, range(7), "10:00")
    for moment in _week(workspace):
        Post.objects.create(workspace=workspace, state=Post.State.SENT, due_at=moment)
    response, _payload = post_form(client, workspace, video_file(), when="queue")
    assert response.status_code == 422
    assert "Every posting slot in the next 3 days is taken" in response.content.decode()
    assert Post.objects.filter(from_queue=True).count() == 0


def _week(workspace):
    now = timezone.now()
    found = PostingSlot.objects.filter(workspace=workspace)
    return slots.occurrences(list(found), slots.zone_of(workspace), now, now + timedelta(days=8))


def test_add_to_queue_schedules_at_the_next_free_slot_and_the_queue_lists_it(
    login, bob, vera, workspace, connected_ws, video_file, no_queue, django_assert_num_queries
):
    add_slots(workspace, range(7), "09:00")
    add_slots(workspace, range(7), "17:30")
    client = login(bob)
    expected = slots.next_free_slot(workspace)
    page = client.get(reverse("posting:compose", kwargs={"code": workspace.code})).content
    assert "Add to queue" in page.decode() and "next free slot" in page.decode()
    made = []
    for n in range(3):
        response, _payload = post_form(
            client, workspace, video_file(), when="queue", description=f"Queued {n}"
        )
        assert response.status_code == 302
        made.append(Post.objects.get(description=f"Queued {n}"))
    assert made[0].scheduled_at == made[0].due_at == expected and made[0].from_queue
    times = [p.scheduled_at for p in made]
    assert len(set(times)) == 3 and times == sorted(times)
    assert (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.POST_CREATED, details__queue=True
        ).count()
        == 3
    )
    # A post scheduled by hand at a slot's time takes it, but is not in the queue.
    following = slots.next_free_slot(workspace)
    Post.objects.create(workspace=workspace, state=Post.State.SENT, due_at=following)
    assert slots.next_free_slot(workspace) != following
    # The queue page: in order, for every member; the query count does not grow with it.
    # session, user, memberships (access and navigation), the posts, their accounts, their
    # groups' members (and those members' accounts when a post has a caption per network: one
    # more), the slots and the posts at the next ones
    reader = login(vera)
    with django_assert_num_queries(8):
        html = reader.get(queue_url(workspace)).content.decode()
    assert [html.index(f"Queued {n}") for n in range(3)] == sorted(
        html.index(f"Queued {n}") for n in range(3)
    )
    assert html.count('data-testid="queue-row"') == 3 and "move-up" not in html
    for n in range(3, 6):
        post_form(client, workspace, video_file(), when="queue", description=f"Queued {n}")
    with django_assert_num_queries(8):
        assert reader.get(queue_url(workspace)).content.decode().count("queue-row") == 6


@pytest.mark.postgres_only
def test_two_people_adding_to_the_queue_at_once_get_two_different_slots(
    login, alice, bob, workspace, connected_ws, video_file, no_queue
):
    """Two threads, each with its own database connection (as two web processes have), add to
    the queue at the same moment: the workspace's row lock orders them, so each gets a slot of
    its own."""
    add_slots(workspace, range(7), "09:00")
    barrier = threading.Barrier(2)
    codes: list[int] = []
    clients = {alice.pk: login(alice), bob.pk: login(bob)}

    def add(client: Client, name: str) -> None:
        try:
            barrier.wait(timeout=10)
            response, _payload = post_form(client, workspace, video_file(), when="queue")
            codes.append(response.status_code)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=add, args=(client, str(pk))) for pk, client in clients.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert codes == [302, 302]
    times = list(Post.objects.filter(from_queue=True).values_list("due_at", flat=True))
    assert len(times) == 2 and len(set(times)) == 2


# --- The slots page -----------------------------------------------------------------------------


def test_slots_are_added_for_several_days_at_once_removed_and_audited(
    login, bob, vera, charlie, workspace, django_assert_num_queries
):
    client = login(bob)
    response = client.post(
        slots_url(workspace), {"weekdays": ["0", "1", "2", "3", "4"], "time": "09:00"}
    )
    assert response.status_code == 302
    assert PostingSlot.objects.filter(workspace=workspace, time=time(9, 0)).count() == 5
    # The same again adds nothing; a bad time and no day are said, with what was chosen kept.
    client.post(slots_url(workspace), {"weekdays": ["0"], "time": "09:00"})
    assert PostingSlot.objects.count() == 5
    response = client.post(slots_url(workspace), {"weekdays": ["6"], "time": "25:99"})
    assert response.status_code == 422
    assert "such as 09:00" in response.content.decode()
    response = client.post(slots_url(workspace), {"time": "10:00"})
    assert response.status_code == 422 and "Choose at least one day" in response.content.decode()
    response = client.post(slots_url(workspace), {"weekdays": ["9"], "time": "10:00"})
    assert response.status_code == 422
    audit = AuditEvent.objects.filter(action=AuditEvent.Action.SLOTS_ADDED).get()
    assert audit.details == {"weekdays": [0, 1, 2, 3, 4], "time": "09:00"}
    # Viewers see them and change nothing; outsiders see nothing.
    reader = login(vera)
    # session, user, memberships (access and navigation), the slots
    with django_assert_num_queries(4):
        html = reader.get(slots_url(workspace)).content.decode()
    assert html.count('data-testid="slot"') == 5 and "slot-remove" not in html
    assert (
        login(vera).post(slots_url(workspace), {"weekdays": ["5"], "time": "08:00"}).status_code
        == 403
    )
    assert login(charlie).get(slots_url(workspace)).status_code == 404
    slot = PostingSlot.objects.order_by("weekday").first()
    remove = reverse("posting:slot_remove", kwargs={"code": workspace.code, "slot_code": slot.code})
    assert login(vera).post(remove).status_code == 403
    assert client.post(remove).status_code == 302
    assert not PostingSlot.objects.filter(pk=slot.pk).exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SLOT_REMOVED).count() == 1


def test_a_workspace_has_at_most_slots_max_slots(bob, workspace):
    for n in range(SLOTS_MAX):
        PostingSlot.objects.create(workspace=workspace, weekday=n % 7, time=time(n // 7, n % 60))
    with pytest.raises(PostActionError, match="at most 50 posting slots"):
        slots.slots_add(workspace=workspace, actor=bob, weekdays=[0], at=time(23, 59))
    assert PostingSlot.objects.count() == SLOTS_MAX


# --- Reordering ---------------------------------------------------------------------------------


def test_moving_a_post_not_yet_at_taisly_swaps_the_two_times(login, bob, workspace):
    later = timezone.now() + timedelta(days=1)
    first = Post.objects.create(
        workspace=workspace,
        state=Post.State.QUEUED,
        from_queue=True,
        due_at=later,
        scheduled_at=later,
        description="First",
    )
    second = Post.objects.create(
        workspace=workspace,
        state=Post.State.QUEUED,
        from_queue=True,
        due_at=later + timedelta(hours=2),
        scheduled_at=later + timedelta(hours=2),
        description="Second",
    )
    client = login(bob)
    html = client.get(queue_url(workspace)).content.decode()
    assert html.index("First") < html.index("Second") and "move-cost" not in html
    move = reverse("posting:queue_move", kwargs={"code": workspace.code, "post_code": second.code})
    response = client.post(move, {"with": str(first.code)})
    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.due_at == second.scheduled_at == later
    assert first.due_at == later + timedelta(hours=2)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.QUEUE_REORDERED).count() == 1
    html = client.get(queue_url(workspace)).content.decode()
    assert html.index("Second") < html.index("First")
    # A post of no queue, or a bad id, changes nothing.
    other = Post.objects.create(workspace=workspace, state=Post.State.QUEUED, due_at=later)
    client.post(move, {"with": str(other.code)})
    client.post(move, {"with": "not-a-uuid"})
    second.refresh_from_db()
    assert second.due_at == later


def test_a_post_already_at_taisly_is_edited_to_its_new_time_and_the_cost_is_said(
    login, bob, workspace, connected_ws, monkeypatch
):
    later = timezone.now() + timedelta(days=1)
    first = Post.objects.create(
        workspace=workspace,
        state=Post.State.SENT,
        taisly_id="t1",
        from_queue=True,
        due_at=later,
        scheduled_at=later,
        video="posts/x.mp4",
        description="First",
    )
    second = Post.objects.create(
        workspace=workspace,
        state=Post.State.QUEUED,
        from_queue=True,
        due_at=later + timedelta(hours=1),
        scheduled_at=later + timedelta(hours=1),
        description="Second",
    )
    first.target_platforms.set([platform(workspace, "TikTok")])
    edited = []
    monkeypatch.setattr(queueing, "enqueue_edit", edited.append)
    client = login(bob)
    html = client.get(queue_url(workspace)).content.decode()
    assert "Moving down edits posts already at Taisly: 2 Taisly requests." in html
    queue_swap(workspace=workspace, actor=bob, post=first, other=second)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == Post.State.EDITING
    assert first.edit_pending["scheduled_at"] == (later + timedelta(hours=1)).isoformat()
    assert second.due_at == later and edited == [first.pk]


def test_a_draft_added_to_the_queue_takes_the_next_free_slot(
    login, bob, workspace, connected_ws, video_file, no_queue
):
    client = login(bob)
    with open(video_file(), "rb") as fh:
        payload = {**compose_data(workspace, description="Drafted"), "video": fh}
        client.post(reverse("posting:draft_create", kwargs={"code": workspace.code}), payload)
    draft = Draft.objects.get()
    send = reverse("posting:draft_send", kwargs={"code": workspace.code, "draft_code": draft.code})
    data = compose_data(workspace, description="Drafted", when="queue")
    # No slots: said, linked, and the draft stays a draft.
    response = client.post(send, data)
    assert response.status_code == 422 and slots_url(workspace) in response.content.decode()
    assert not Post.objects.exists()
    add_slots(workspace, range(7), "08:15")
    expected = slots.next_free_slot(workspace)
    response = client.post(send, data)
    post = Post.objects.get()
    assert response.status_code == 302 and post.from_queue
    assert post.scheduled_at == post.due_at == expected and no_queue == [post.pk]
    draft.refresh_from_db()
    assert draft.sent_post == post


# --- With an approval workflow --------------------------------------------------------------


def test_add_to_queue_with_review_on_goes_to_review_planned_at_the_next_free_slot(
    login, alice, bob, workspace, connected_ws, video_file, no_queue
):
    """Review is not bypassed: "Add to queue" submits the post for review with the next free
    slot as its planned time, nothing goes to Taisly, and the approval sends it at that time."""
    from posting.approvals import services as approvals
    from posting.sending import drafts

    Workspace.objects.filter(pk=workspace.pk).update(approval_workflow="internal")
    client = login(bob)
    data = compose_data(workspace, description="Queued for review", when="queue")
    new = reverse("posting:review_new", kwargs={"code": workspace.code})
    # No slots: said, and nothing is kept half-made.
    with open(video_file(), "rb") as fh:
        assert client.post(new, {**data, "video": fh}).status_code == 422
    assert not Draft.objects.exists()
    add_slots(workspace, range(7), "10:45")
    expected = slots.next_free_slot(workspace)
    # The compose form's own post is refused while review is on.
    with open(video_file(), "rb") as fh:
        refused = client.post(
            reverse("posting:compose", kwargs={"code": workspace.code}), {**data, "video": fh}
        )
    assert refused.status_code == 422 and not Post.objects.exists()
    with open(video_file(), "rb") as fh:
        assert client.post(new, {**data, "video": fh}).status_code == 302
    draft = Draft.objects.get()
    assert draft.review_state == "in_review" and draft.scheduled_at == expected
    assert not Post.objects.exists() and no_queue == []
    # Sending it to the queue from its page is refused while it waits.
    send = reverse("posting:draft_send", kwargs={"code": workspace.code, "draft_code": draft.code})
    assert client.post(send, data).status_code == 422 and not Post.objects.exists()
    # Moving it on the calendar changes only its time: it stays in review, no new version.
    versions = draft.versions.count()
    later = expected + timedelta(days=1)
    drafts.draft_move(draft=draft, actor=bob, scheduled_at=later)
    draft.refresh_from_db()
    assert draft.review_state == "in_review" and draft.scheduled_at == later
    assert draft.versions.count() == versions
    outcome = approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice)
    post = Post.objects.get()
    assert outcome.post == post and post.scheduled_at == later and no_queue == [post.pk]
