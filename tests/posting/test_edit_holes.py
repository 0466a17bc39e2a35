"""The holes around editing a scheduled post, against the sandbox over HTTP: a worker that dies
mid-edit (the stalled check resumes it once, or settles it with an alert saying what is
scheduled now), a cancel racing an edit (serialized by the post's state, PostgreSQL threads with
their own connections), and a failed re-create alerting even when the post failed once before."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from posting import tasks
from posting.alerts.rules import alerts_scan
from posting.models import Alert, Post
from posting.sending import cancel, decisions, edits, stalled
from posting.sending.errors import PostActionError
from posting.taisly.client import TaislyClient
from posting.taisly.gateway import taisly_for
from tests.posting import test_edits
from tests.posting.test_edits import edit_data, edit_url, in_sandbox
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_data, compose_url

pytestmark = pytest.mark.django_db(transaction=True)

# The edit tests' fixtures: a post scheduled at the sandbox, and the recorded uploads queue.
scheduled = test_edits.scheduled
queue = test_edits.queue


class WorkerDied(BaseException):
    """The uploads worker killed at that line (a restart, an out-of-memory kill)."""


def later_check(now=None):
    """The stalled check as it runs once the edit's deadline has passed."""
    moment = (now or timezone.now()) + stalled.stalled_after() + timedelta(seconds=1)
    return stalled.stalled_edits_check(now=moment)


def moved(post, description) -> edits.PostChange:
    """An edit of ``post``: a new caption, three days ahead, the same accounts."""
    return edits.PostChange(
        platforms=list(post.target_platforms.all()),
        description=description,
        captions={},
        cover_second=0,
        scheduled_at=timezone.now() + timedelta(days=3),
    )


def ask_edit(login, bob, post, when, **extra):
    response = login(bob).post(edit_url(post), edit_data(post, when, **extra))
    assert response.status_code == 302, response.content.decode()[:2000]


def test_a_worker_dying_after_the_cancel_is_resumed_once_and_leaves_one_post(
    monkeypatch, login, bob, scheduled, sandbox, connected_ws, queue
):
    [original] = in_sandbox(sandbox, connected_ws)
    new_time = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    ask_edit(login, bob, scheduled, new_time)

    def dies(row):
        raise WorkerDied

    # Taisly has cancelled the original; the worker dies before writing it down.
    with monkeypatch.context() as patch:
        patch.setattr(edits, "_mark_cancelled", dies)
        with pytest.raises(WorkerDied):
            tasks.edit_post(scheduled.pk)
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.REPLACING and scheduled.taisly_id == original["id"]
    assert in_sandbox(sandbox, connected_ws) == []
    # Before its deadline the check leaves a worker that may still be busy alone.
    assert stalled.stalled_edits_check() == {}

    assert later_check() == {"edited": 1}
    assert later_check() == {}  # already settled: nothing twice
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.QUEUED and scheduled.replaced_taisly_id == original["id"]
    # The edit's own task (never run here) and the one forward the resumed edit queued.
    assert queue == [("edit", scheduled.pk), ("forward", scheduled.pk)]
    assert tasks.forward_post(scheduled.pk) == "sent"
    [made] = in_sandbox(sandbox, connected_ws)
    scheduled.refresh_from_db()
    assert made["id"] == scheduled.taisly_id != original["id"] and scheduled.due_at == new_time


def test_an_edit_task_that_never_ran_is_run_by_the_check_and_a_late_delivery_does_nothing(
    login, bob, scheduled, sandbox, connected_ws, queue
):
    new_time = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    ask_edit(login, bob, scheduled, new_time, description="Edited")
    assert later_check() == {"edited": 1}
    assert tasks.edit_post(scheduled.pk) == "not claimed"  # the lost task, delivered late
    assert tasks.forward_post(scheduled.pk) == "sent"
    [made] = in_sandbox(sandbox, connected_ws)
    assert made["description"] == "Edited"


@pytest.mark.parametrize("cancelled_before_death", [False, True])
def test_a_stalled_edit_whose_new_time_has_passed_is_settled_from_taisly_with_an_alert(
    monkeypatch, login, bob, scheduled, sandbox, connected_ws, queue, cancelled_before_death
):
    [original] = in_sandbox(sandbox, connected_ws)
    new_time = (timezone.now() + timedelta(hours=1)).replace(second=0, microsecond=0)
    ask_edit(login, bob, scheduled, new_time)
    if cancelled_before_death:
        with monkeypatch.context() as patch:
            patch.setattr(edits, "_mark_cancelled", lambda row: (_ for _ in ()).throw(WorkerDied))
            with pytest.raises(WorkerDied):
                tasks.edit_post(scheduled.pk)

    outcome = later_check(now=new_time)
    scheduled.refresh_from_db()
    alert = Alert.objects.get(post=scheduled, kind=Alert.Kind.EDIT_FAILED)
    assert "The edit was not made" in alert.message and alert.resolved_at is None
    # The same pipeline as every alert: the alerts page, and the email to members.
    inbox = login(bob).get(reverse("posting:alerts", kwargs={"code": scheduled.workspace.code}))
    assert "Edit not made" in inbox.content.decode()
    assert any("The edit was not made" in m.body for m in mail.outbox)
    assert not any(kind == "forward" for kind, _pk in queue)
    if cancelled_before_death:
        # The dead worker's cancel went through: nothing is scheduled, and the page says so.
        assert outcome == {"edit_failed_partly": 1}
        assert scheduled.state == Post.State.SEND_FAILED
        assert scheduled.replaced_taisly_id == original["id"] and scheduled.taisly_id is None
        assert "Nothing is scheduled for" in alert.message
        assert in_sandbox(sandbox, connected_ws) == []
        assert Alert.objects.filter(post=scheduled, kind=Alert.Kind.SEND_FAILED).exists()
        decisions.post_retry_send(post=scheduled, actor=bob)  # one click puts it back
        assert tasks.forward_post(scheduled.pk) == "sent"
        assert len(in_sandbox(sandbox, connected_ws)) == 1
    else:
        assert outcome == {"edit_failed": 1}
        assert scheduled.state == Post.State.SENT and scheduled.taisly_id == original["id"]
        assert "Still scheduled at Taisly as it was" in alert.message
        assert "The edit was not made" in scheduled.state_reason
        assert [p["id"] for p in in_sandbox(sandbox, connected_ws)] == [original["id"]]
    assert later_check(now=new_time) == {}


def test_a_stalled_edit_waits_while_taisly_cannot_be_read(
    login, bob, scheduled, sandbox, connected_ws, queue
):
    new_time = (timezone.now() + timedelta(hours=1)).replace(second=0, microsecond=0)
    ask_edit(login, bob, scheduled, new_time)
    sandbox.fault("500", count=10)
    assert later_check(now=new_time) == {"unknown": 1}
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.REPLACING  # nothing decided blind
    assert not Alert.objects.filter(post=scheduled).exists()


def test_a_cancel_whose_process_died_is_settled_from_history(
    login, bob, scheduled, sandbox, connected_ws
):
    """The web process died inside its Taisly call: before it (still there) and after it."""
    taken = {"state": Post.State.CANCELLING, "updated_at": timezone.now()}
    Post.objects.filter(pk=scheduled.pk).update(**taken)
    assert later_check() == {"cancel not made": 1}
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.SENT
    with taisly_for(scheduled.workspace) as client:
        client.cancel_scheduled(scheduled.taisly_id)
    Post.objects.filter(pk=scheduled.pk).update(**taken)
    assert later_check() == {"cancelled": 1}
    assert later_check() == {}
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.CANCELLED
    assert AuditEvent.objects.filter(action=AuditEvent.Action.POST_CANCELLED).count() == 1


@pytest.mark.postgres_only
def test_an_edit_asked_while_a_cancel_is_at_taisly_is_refused_with_a_sentence(
    monkeypatch, login, bob, scheduled, sandbox, connected_ws, queue
):
    """The cancel runs in a thread with its own connection (another web process) and is held
    inside its Taisly call; the edit arrives meanwhile."""
    at_taisly, go_on = threading.Event(), threading.Event()
    real_cancel = TaislyClient.cancel_scheduled

    def held(self, post_id):
        at_taisly.set()
        assert go_on.wait(timeout=30)
        return real_cancel(self, post_id)

    monkeypatch.setattr(TaislyClient, "cancel_scheduled", held)
    ended: list[str] = []

    def cancelling() -> None:
        try:
            cancel.post_cancel(post=Post.objects.get(pk=scheduled.pk), actor=bob)
            ended.append("cancelled")
        except PostActionError as exc:
            ended.append(exc.message)
        finally:
            connection.close()

    thread = threading.Thread(target=cancelling)
    thread.start()
    assert at_taisly.wait(timeout=30)
    change = moved(scheduled, "Too late")
    with pytest.raises(PostActionError) as refused:
        edits.post_edit(post=scheduled, actor=bob, change=change)
    assert "being cancelled" in refused.value.message
    page = login(bob).post(
        edit_url(scheduled), edit_data(scheduled, timezone.now() + timedelta(days=3))
    )
    assert "being cancelled" in page.content.decode()
    go_on.set()
    thread.join(timeout=30)
    assert ended == ["cancelled"]
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.CANCELLED and not scheduled.edit_pending
    assert in_sandbox(sandbox, connected_ws) == [] and queue == []


@pytest.mark.postgres_only
def test_a_cancel_and_an_edit_at_the_same_moment_one_wins_and_taisly_agrees(
    bob, scheduled, sandbox, connected_ws, queue
):
    """Both at once from two connections: exactly one acts, the other is refused; Taisly ends
    with the cancel's nothing or the edit's one post, never a re-made post after a cancel."""
    barrier = threading.Barrier(2)
    ended: dict[str, str] = {}
    change = moved(scheduled, "Raced")

    def act(name, call) -> None:
        try:
            barrier.wait(timeout=10)
            call()
            ended[name] = "done"
        except PostActionError as exc:
            ended[name] = exc.message
        finally:
            connection.close()

    post = Post.objects.get(pk=scheduled.pk)
    threads = [
        threading.Thread(
            target=act, args=("cancel", lambda: cancel.post_cancel(post=post, actor=bob))
        ),
        threading.Thread(
            target=act,
            args=("edit", lambda: edits.post_edit(post=post, actor=bob, change=change)),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(ended) == ["cancel", "edit"]
    assert list(ended.values()).count("done") == 1, ended
    for kind, pk in list(queue):
        assert kind == "edit"
        tasks.edit_post(pk)
    for kind, pk in list(queue):
        if kind == "forward":
            tasks.forward_post(pk)
    scheduled.refresh_from_db()
    if ended["cancel"] == "done":
        assert scheduled.state == Post.State.CANCELLED
        assert in_sandbox(sandbox, connected_ws) == []
    else:
        assert scheduled.state == Post.State.SENT
        [made] = in_sandbox(sandbox, connected_ws)
        assert made["description"] == "Raced"


def test_a_failed_re_create_alerts_even_when_the_post_failed_once_before(
    settings, login, bob, scheduled, sandbox, connected_ws, queue
):
    """Its first send failed (an alert, resolved once it was sent again); an edit whose
    re-create fails is a new incident: a new alert, in-app and to every channel."""
    earlier = Alert.objects.create(
        workspace=scheduled.workspace,
        post=scheduled,
        kind=Alert.Kind.SEND_FAILED,
        message="first send",
        resolved_at=timezone.now(),
    )
    settings.POST_SEND_MAX_ATTEMPTS = 1
    ask_edit(login, bob, scheduled, timezone.now() + timedelta(days=3), description="Edited")
    assert tasks.edit_post(scheduled.pk) == "edited"
    sandbox.fault("500", count=2)  # the upload, and the history read that checks it
    assert tasks.forward_post(scheduled.pk) == "send_failed"
    alerts_scan()
    fresh = Alert.objects.exclude(pk=earlier.pk).get(post=scheduled, kind=Alert.Kind.SEND_FAILED)
    assert fresh.resolved_at is None and "nothing is scheduled now" in fresh.message


def test_a_caption_whose_re_create_fails_says_which_networks_have_nothing_scheduled(
    settings, login, bob, workspace, connected_ws, video_file, sandbox, queue
):
    """A post with a caption for X of its own, moved: the X caption's re-create fails. Its
    alert says nothing is scheduled for X (not "nothing is scheduled" for the whole post)."""
    when = timezone.now() + timedelta(days=2)
    data = compose_data(
        workspace,
        networks=("TikTok", "X"),
        description="For TikTok",
        separate_captions="on",
        caption_X="For X",
        when="later",
        scheduled_at=timezone.localtime(when).strftime("%Y-%m-%dT%H:%M"),
    )
    with open(video_file(), "rb") as fh:
        assert login(bob).post(compose_url(workspace), {**data, "video": fh}).status_code == 302
    lead = Post.objects.get(group__isnull=True)
    member = Post.objects.get(group=lead)
    for row in (lead, member):
        assert tasks.forward_post(row.pk) == "sent"
    lead.refresh_from_db()
    moved_to = timezone.localtime(timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = login(bob).post(edit_url(lead), {**data, "scheduled_at": moved_to})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert tasks.edit_post(lead.pk) == "edited"
    settings.POST_SEND_MAX_ATTEMPTS = 1
    assert tasks.forward_post(lead.pk) == "sent"
    sandbox.fault("500", count=2)  # the X caption's upload, and the history read after it
    assert tasks.forward_post(member.pk) == "send_failed"
    alert = Alert.objects.get(post=member, kind=Alert.Kind.SEND_FAILED)
    assert "nothing is scheduled for X now" in alert.message
    assert "nothing is scheduled now" not in alert.message
    assert len(in_sandbox(sandbox, connected_ws)) == 1


@pytest.mark.parametrize("captions", [2, 3])
def test_the_post_page_shows_each_captions_taisly_id_in_a_fixed_number_of_queries(
    login, bob, workspace, connected_ws, video_file, queue, captions
):
    extra = {"caption_X": "For X"}
    if captions == 3:
        extra["caption_Instagram"] = "For Instagram"
    data = compose_data(
        workspace,
        networks=("TikTok", "Instagram", "X"),
        description="For TikTok",
        separate_captions="on",
        **extra,
    )
    with open(video_file(), "rb") as fh:
        assert login(bob).post(compose_url(workspace), {**data, "video": fh}).status_code == 302
    rows = list(Post.objects.order_by("id"))
    assert len(rows) == captions
    for row in rows:
        assert tasks.forward_post(row.pk) == "sent"
    lead = Post.objects.get(group__isnull=True)
    client = login(bob)
    url = reverse("posting:post", kwargs={"code": workspace.code, "post_code": lead.code})
    client.get(url)  # the first visit marks what it shows as seen
    with CaptureQueriesContext(connection) as ran:
        html = client.get(url).content.decode()
    assert html.count('data-testid="member-taisly-id"') == captions
    for row in Post.objects.all():
        assert row.taisly_id and f"<code>{row.taisly_id}</code>" in html
    assert "Taisly id for X" in html
    # The same number of queries for two captions and three: the members come with their
    # platforms in one prefetch, and the lead's platforms in one query.
    assert len(ran.captured_queries) == 11, [q["sql"][:80] for q in ran.captured_queries]
