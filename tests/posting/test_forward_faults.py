"""The forward to Taisly interrupted by each sandbox fault: every one ends SENT, SEND_FAILED or
NEEDS_CHECK, and the sandbox never holds two posts for one upload.

The forward runs for real against the sandbox over HTTP; retries are run by calling the task
once its time has come (a real cluster's scheduler would), with the clock moved by hand.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from accounts.models import AuditEvent, TaislyConnection
from posting import tasks
from posting.models import Platform, Post
from posting.sending import outcomes, queueing, reconcile
from tests.polling import wait_until
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_data, compose_url, sandbox_posts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queued(login, bob, workspace, connected_ws, video_file, monkeypatch):
    """A QUEUED post made through the form; queueing is a no-op so the test runs the forward."""
    monkeypatch.setattr(queueing, "enqueue_forward", lambda post_id: None)
    payload = compose_data(workspace)
    with open(video_file(), "rb") as fh:
        payload["video"] = fh
        response = login(bob).post(compose_url(workspace), payload)
    assert response.status_code == 302, response.content.decode()[:2000]
    return Post.objects.get()


def due_now(post: Post) -> None:
    """The retry's time has come (and any 429 block is over)."""
    Post.objects.filter(pk=post.pk).update(next_attempt_at=timezone.now())
    TaislyConnection.objects.update(blocked_until=None)


def in_sandbox(sandbox, account) -> list[dict]:
    return sandbox_posts(sandbox, account["api_key"])


@pytest.mark.parametrize("mode", ["500", "garbage"])
def test_an_error_answer_is_retried_after_history_shows_nothing(
    mode, queued, sandbox, connected_ws
):
    sandbox.fault(mode)
    assert tasks.forward_post(queued.pk) == "retry"
    queued.refresh_from_db()
    assert queued.state == Post.State.QUEUED and queued.attempts == 1
    assert queued.next_attempt_at > timezone.now()
    assert queued.state_reason
    # The retry is a schedule on the uploads cluster, named for the post and the try.
    schedule = Schedule.objects.get(name__startswith=f"post {queued.code} try 2 ")
    assert schedule.cluster == "uploads" and schedule.func == "posting.tasks.forward_post"
    assert in_sandbox(sandbox, connected_ws) == []
    # Not before its time: an early run (a redelivery) does nothing.
    assert tasks.forward_post(queued.pk) == "not claimed"

    due_now(queued)
    assert tasks.forward_post(queued.pk) == "sent"
    queued.refresh_from_db()
    assert queued.state == Post.State.SENT and queued.attempts == 2
    assert [p["id"] for p in in_sandbox(sandbox, connected_ws)] == [queued.taisly_id]


def test_a_429_waits_for_retry_after(queued, sandbox, connected_ws):
    sandbox.fault("429", retryAfter=120)
    assert tasks.forward_post(queued.pk) == "retry"
    queued.refresh_from_db()
    assert queued.state == Post.State.QUEUED
    assert queued.next_attempt_at >= timezone.now() + timedelta(seconds=110)
    assert "hourly request limit" in queued.state_reason
    due_now(queued)
    assert tasks.forward_post(queued.pk) == "sent"
    assert len(in_sandbox(sandbox, connected_ws)) == 1


def test_a_dropped_connection_is_found_in_history_and_adopted(queued, sandbox, connected_ws):
    sandbox.fault("drop")
    assert tasks.forward_post(queued.pk) == "adopted"
    queued.refresh_from_db()
    [made] = in_sandbox(sandbox, connected_ws)
    assert queued.state == Post.State.SENT and queued.taisly_id == made["id"]
    assert queued.results.count() == 2
    assert AuditEvent.objects.filter(action=AuditEvent.Action.POST_ADOPTED).exists()


def test_a_timeout_needs_a_check_then_history_finds_it(settings, queued, sandbox, connected_ws):
    # The sandbox answers after 3 s (and makes the post); the client gives up after 1 s.
    settings.TAISLY_UPLOAD_READ_TIMEOUT = 1
    sandbox.fault("timeout", delay=3)
    assert tasks.forward_post(queued.pk) == "needs_check"
    queued.refresh_from_db()
    assert queued.state == Post.State.NEEDS_CHECK
    assert "may have posted this already" in queued.state_reason
    assert Schedule.objects.filter(name__startswith=f"post {queued.code} recheck").exists()
    # Nothing is sent again on its own: running the forward again does nothing.
    assert tasks.forward_post(queued.pk) == "not claimed"

    # Once its delay is over the sandbox carries the upload out: then history has it.
    wait_until(
        lambda: in_sandbox(sandbox, connected_ws),
        what="the sandbox to carry out the timed-out upload",
        timeout=15,
        every=0.3,
    )
    assert tasks.recheck_post(queued.pk) == "adopted"
    queued.refresh_from_db()
    [made] = in_sandbox(sandbox, connected_ws)
    assert queued.state == Post.State.SENT and queued.taisly_id == made["id"]


def test_two_matching_posts_in_history_ask_a_person(
    settings, login, bob, queued, sandbox, connected_ws, video_file
):
    from tests.sandbox.conftest import Api

    # Someone posted the same video with the same description to the same accounts in Taisly's
    # own app at the same time: history cannot tell which one is ours.
    api = Api(sandbox.base_url, connected_ws["api_key"], connected_ws)
    ids = [api.platform_ids[n] for n in ("TikTok", "Instagram")]
    assert api.create_post(video_file(), ids, description="A test post").status_code == 200
    sandbox.fault("drop")
    assert tasks.forward_post(queued.pk) == "needs_check"
    queued.refresh_from_db()
    assert queued.state == Post.State.NEEDS_CHECK
    assert len(queued.send_candidates) == 2
    assert len(in_sandbox(sandbox, connected_ws)) == 2  # ours and theirs, nothing more

    client = login(bob)
    url = compose_url(queued.workspace).replace("new/", f"{queued.code}/progress/")
    page = client.get(url, follow=True).content.decode()  # the post page shows the check
    assert page.count('data-testid="adopt"') == 2
    chosen = queued.send_candidates[1]["id"]
    response = client.post(url.replace("progress/", "adopt/"), {"taisly_id": chosen})
    assert response.status_code == 302
    queued.refresh_from_db()
    assert queued.state == Post.State.SENT and queued.taisly_id == chosen
    event = AuditEvent.objects.filter(action=AuditEvent.Action.POST_ADOPTED).get()
    assert event.actor == bob


def test_a_person_can_send_again_or_give_up_after_a_check(
    login, bob, vera, queued, sandbox, connected_ws, django_capture_on_commit_callbacks
):
    Post.objects.filter(pk=queued.pk).update(state=Post.State.NEEDS_CHECK, state_reason="?")
    url = compose_url(queued.workspace).replace("new/", f"{queued.code}/")
    # A viewer may not decide.
    assert login(vera).post(url + "send-again/").status_code == 403
    client = login(bob)
    response = client.post(url + "give-up/")
    assert response.status_code == 302
    queued.refresh_from_db()
    assert queued.state == Post.State.SEND_FAILED and "decided not to send" in queued.state_reason
    # Once given up, "send again" (a NEEDS_CHECK decision) is refused with a sentence.
    response = client.post(url + "send-again/", HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "cannot be done" in response.content.decode()
    queued.refresh_from_db()
    assert queued.state == Post.State.SEND_FAILED
    # Sending again from NEEDS_CHECK queues it (the forward itself is a no-op in this test).
    Post.objects.filter(pk=queued.pk).update(state=Post.State.NEEDS_CHECK)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url + "send-again/")
    queued.refresh_from_db()
    assert queued.state == Post.State.QUEUED
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {AuditEvent.Action.POST_GIVEN_UP, AuditEvent.Action.POST_SENT_AGAIN} <= actions


def test_after_the_last_try_it_is_send_failed_and_an_editor_retries_it(
    settings,
    login,
    bob,
    vera,
    queued,
    sandbox,
    connected_ws,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    settings.POST_SEND_MAX_ATTEMPTS = 2
    # Taisly is down: the send and the history read after it both fail, each try.
    sandbox.fault("500", count=3)
    assert tasks.forward_post(queued.pk) == "retry"
    queued.refresh_from_db()
    assert queued.must_reconcile  # history could not say, so the next try reads it first
    due_now(queued)
    assert tasks.forward_post(queued.pk) == "send_failed"
    queued.refresh_from_db()
    assert queued.state == Post.State.SEND_FAILED
    assert "could not take the video after 2 tries" in queued.state_reason
    assert in_sandbox(sandbox, connected_ws) == []

    url = compose_url(queued.workspace).replace("new/", f"{queued.code}/")
    page = login(bob).get(url).content.decode()  # the post page
    assert 'data-testid="retry-send"' in page
    assert "could not take the video after 2 tries" in page
    viewer_page = login(vera).get(url).content.decode()
    assert 'data-testid="retry-send"' not in viewer_page
    assert login(vera).post(url + "retry-send/").status_code == 403

    # The retry goes through the real queue again (sync under tests): history first, then send.
    monkeypatch.undo()
    sandbox.clear_faults()
    with django_capture_on_commit_callbacks(execute=True):
        response = login(bob).post(url + "retry-send/")
    assert response.status_code == 302
    queued.refresh_from_db()
    assert queued.state == Post.State.SENT, queued.state_reason
    assert len(in_sandbox(sandbox, connected_ws)) == 1
    assert AuditEvent.objects.filter(action=AuditEvent.Action.POST_SEND_RETRIED).exists()
    # Retrying what is not SEND_FAILED is refused with a sentence.
    response = login(bob).post(url + "retry-send/", HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "cannot be done" in response.content.decode()


def test_a_refusal_fails_at_once_with_taislys_words(queued, sandbox, connected_ws):
    # A platform the mirror still lists but Taisly no longer knows: Taisly answers 400.
    Platform.objects.filter(pk=queued.target_platforms.first().pk).update(taisly_id="gone1")
    assert tasks.forward_post(queued.pk) == "send_failed"
    queued.refresh_from_db()
    assert queued.state == Post.State.SEND_FAILED and queued.attempts == 1
    assert "Taisly refused the request (HTTP 400)" in queued.state_reason
    assert "PLATFORM_NOT_FOUND" in queued.state_reason
    assert in_sandbox(sandbox, connected_ws) == []


def test_a_revoked_key_fails_at_once_without_retrying(queued, sandbox, connected_ws):
    TaislyConnection.objects.update(status=TaislyConnection.Status.INVALID)
    assert tasks.forward_post(queued.pk) == "send_failed"
    queued.refresh_from_db()
    assert queued.state == Post.State.SEND_FAILED
    assert "no longer accepts this workspace's key" in queued.state_reason


def test_an_unreachable_taisly_is_retried(settings, queued, sandbox, connected_ws):
    settings.TAISLY_BASE_URL = "http://127.0.0.1:9/api/private"  # nothing listens there
    assert tasks.forward_post(queued.pk) == "retry"
    queued.refresh_from_db()
    assert queued.state == Post.State.QUEUED and "could not be reached" in queued.state_reason
    settings.TAISLY_BASE_URL = sandbox.base_url
    due_now(queued)
    assert tasks.forward_post(queued.pk) == "sent"
    assert len(in_sandbox(sandbox, connected_ws)) == 1


# --- The upload and the history sync agree on one post ----------------------------------------


def test_a_history_sync_before_mark_sent_makes_no_second_post(queued, sandbox, connected_ws):
    """Taisly has the post, the worker has not stored its id yet, and a history sync ("Sync now"
    or the background one) runs in between: sync leaves it to the upload (same description, still
    SENDING), and the upload's results go through the sync's own code."""
    from posting.mirror import sync

    real_mark_sent = outcomes.mark_sent
    seen = {}

    def sync_first(post, *args, **kwargs):
        seen["state"] = Post.objects.get(pk=post.pk).state
        seen["summary"] = sync.history_sync(workspace=post.workspace)
        return real_mark_sent(post, *args, **kwargs)

    outcomes.mark_sent = sync_first
    try:
        assert tasks.forward_post(queued.pk) == "sent"
    finally:
        outcomes.mark_sent = real_mark_sent
    assert seen["state"] == Post.State.SENDING
    assert seen["summary"].seen_posts == 1 and seen["summary"].new_posts == 0
    [post] = Post.objects.all()
    assert post.pk == queued.pk and post.state == Post.State.SENT and post.taisly_id
    assert {r.platform.network for r in post.results.all()} == {"TikTok", "Instagram"}
    # The next sync finds it by its Taisly id: still one post, results brought up to date.
    summary = sync.history_sync(workspace=post.workspace)
    assert summary.new_posts == 0 and Post.objects.count() == 1
    assert len(in_sandbox(sandbox, connected_ws)) == 1


def test_adopting_a_post_a_sync_already_copied_keeps_one_post(
    queued, sandbox, connected_ws, video_file
):
    """Taisly made the post, but ours had left the in-flight states (SEND_FAILED) when a history
    sync ran, so the sync mirrored it as a post of its own. When ours is then matched to it
    (a re-check while NEEDS_CHECK), mark_sent replaces the history copy: one post, ours."""
    from posting.mirror import sync
    from tests.sandbox.conftest import Api

    api = Api(sandbox.base_url, connected_ws["api_key"], connected_ws)
    ids = [api.platform_ids[n] for n in ("TikTok", "Instagram")]
    assert api.create_post(video_file(), ids, description="A test post").status_code == 200
    now = timezone.now()
    Post.objects.filter(pk=queued.pk).update(state=Post.State.SEND_FAILED, sending_started_at=now)
    assert sync.history_sync(workspace=queued.workspace).new_posts == 1
    copy = Post.objects.get(origin=Post.Origin.HISTORY)
    assert copy.results.count() == 2

    Post.objects.filter(pk=queued.pk).update(state=Post.State.NEEDS_CHECK)
    assert reconcile.post_recheck(post_id=queued.pk) == "adopted"
    [post] = Post.objects.all()
    assert post.pk == queued.pk and post.taisly_id == copy.taisly_id
    assert post.origin == Post.Origin.DASHBOARD and post.state == Post.State.SENT
    assert {r.platform.network for r in post.results.all()} == {"TikTok", "Instagram"}
    # A later sync finds ours by its Taisly id and makes no copy again.
    assert sync.history_sync(workspace=queued.workspace).new_posts == 0
    assert Post.objects.count() == 1
