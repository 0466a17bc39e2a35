"""Editing a scheduled post: one action for the person, a cancel and a re-create at Taisly done
by the uploads worker under the same claim discipline as the forward. Against the sandbox over
HTTP, with its faults: the cancel failing (the original stays), the re-create failing (nothing
is scheduled, said so, an alert, one-click retry), and a redelivered task doing nothing twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from posting import tasks
from posting.models import Alert, Post
from posting.sending import decisions, edits
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_data, in_sandbox, local

pytestmark = pytest.mark.django_db(transaction=True)


def edit_url(post) -> str:
    return reverse(
        "posting:post_edit", kwargs={"code": post.workspace.code, "post_code": post.code}
    )


def edit_data(post, when, **extra) -> dict:
    data = compose_data(post.workspace, when="later", scheduled_at=local(when))
    data["description"] = post.description
    data.update(extra)
    return data


def test_the_form_says_what_the_edit_costs_before_the_click(login, bob, scheduled):
    page = login(bob).get(edit_url(scheduled))
    html = page.content.decode()
    assert page.status_code == 200
    # A caption-only edit still cancels and makes the post again: two requests.
    assert "This edit costs 2 Taisly requests: 1 to cancel and 1 upload" in html
    assert (
        'data-testid="edit-post"'
        in login(bob)
        .get(
            reverse(
                "posting:post",
                kwargs={"code": scheduled.workspace.code, "post_code": scheduled.code},
            )
        )
        .content.decode()
    )


def test_moving_a_post_leaves_exactly_one_taisly_post_at_the_new_time(
    login, bob, scheduled, sandbox, connected_ws, queue
):
    [original] = in_sandbox(sandbox, connected_ws)
    new_time = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    response = login(bob).post(edit_url(scheduled), edit_data(scheduled, new_time))
    assert response.status_code == 302, response.content.decode()[:3000]
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.EDITING and queue == [("edit", scheduled.pk)]
    # Nothing has gone to Taisly yet: the worker does it.
    assert [p["id"] for p in in_sandbox(sandbox, connected_ws)] == [original["id"]]

    assert tasks.edit_post(scheduled.pk) == "edited"
    # A redelivered task finds nothing to claim and does nothing twice.
    assert tasks.edit_post(scheduled.pk) == "not claimed"
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.QUEUED and scheduled.taisly_id is None
    assert scheduled.replaced_taisly_id == original["id"]
    assert in_sandbox(sandbox, connected_ws) == []
    assert queue[-1] == ("forward", scheduled.pk)

    assert tasks.forward_post(scheduled.pk) == "sent"
    assert tasks.forward_post(scheduled.pk) == "not claimed"
    [made] = in_sandbox(sandbox, connected_ws)
    scheduled.refresh_from_db()
    assert made["id"] == scheduled.taisly_id != original["id"]
    assert scheduled.state == Post.State.SENT and scheduled.due_at == new_time
    assert scheduled.scheduled_at == new_time and not scheduled.replaced_taisly_id
    assert Post.objects.count() == 1
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {AuditEvent.Action.POST_EDIT_REQUESTED, AuditEvent.Action.POST_EDITED} <= actions


def test_when_the_cancel_fails_the_original_stays_and_the_page_says_so(
    login, bob, scheduled, sandbox, connected_ws, queue
):
    [original] = in_sandbox(sandbox, connected_ws)
    login(bob).post(edit_url(scheduled), edit_data(scheduled, timezone.now() + timedelta(days=3)))
    sandbox.fault("500")  # the cancel; history, read next, answers and still has the post
    assert tasks.edit_post(scheduled.pk) == "edit_failed"
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.SENT and scheduled.taisly_id == original["id"]
    assert "The edit was not made" in scheduled.state_reason
    assert "still scheduled at Taisly as it was" in scheduled.state_reason
    assert [p["id"] for p in in_sandbox(sandbox, connected_ws)] == [original["id"]]
    assert not any(kind == "forward" for kind, _pk in queue)
    page = (
        login(bob)
        .get(
            reverse(
                "posting:post",
                kwargs={"code": scheduled.workspace.code, "post_code": scheduled.code},
            )
        )
        .content.decode()
    )
    assert "The edit was not made" in page
    assert AuditEvent.objects.filter(action=AuditEvent.Action.POST_EDIT_FAILED).exists()


def test_when_the_re_create_fails_nothing_is_scheduled_and_one_click_sends_it(
    settings, login, bob, scheduled, sandbox, connected_ws, queue
):
    settings.POST_SEND_MAX_ATTEMPTS = 1
    new_time = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    login(bob).post(edit_url(scheduled), edit_data(scheduled, new_time, description="Edited"))
    assert tasks.edit_post(scheduled.pk) == "edited"
    assert in_sandbox(sandbox, connected_ws) == []
    sandbox.fault("500", count=2)  # the upload, and the history read that checks it
    assert tasks.forward_post(scheduled.pk) == "send_failed"
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.SEND_FAILED
    assert "nothing is scheduled now" in scheduled.state_reason
    assert "Try sending again" in scheduled.state_reason
    assert in_sandbox(sandbox, connected_ws) == []
    alert = Alert.objects.get(post=scheduled, kind=Alert.Kind.SEND_FAILED)
    assert "nothing is scheduled now" in alert.message
    page = (
        login(bob)
        .get(
            reverse(
                "posting:post",
                kwargs={"code": scheduled.workspace.code, "post_code": scheduled.code},
            )
        )
        .content.decode()
    )
    assert 'data-testid="nothing-scheduled"' in page and 'data-testid="retry-send"' in page

    decisions.post_retry_send(post=scheduled, actor=bob)
    assert tasks.forward_post(scheduled.pk) == "sent"
    [made] = in_sandbox(sandbox, connected_ws)
    scheduled.refresh_from_db()
    assert made["id"] == scheduled.taisly_id and made["description"] == "Edited"
    assert scheduled.due_at == new_time


def test_an_edit_that_changes_nothing_costs_nothing(login, bob, scheduled, queue, sandbox):
    data = edit_data(scheduled, scheduled.scheduled_at)
    data["cover_second"] = str(scheduled.cover_second)
    response = login(bob).post(edit_url(scheduled), data)
    assert response.status_code == 409
    assert "Nothing was changed" in response.content.decode()
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.SENT and queue == []


def test_a_post_being_edited_cannot_be_edited_or_cancelled_again(login, bob, scheduled, queue):
    client = login(bob)
    client.post(edit_url(scheduled), edit_data(scheduled, timezone.now() + timedelta(days=4)))
    second = client.post(
        edit_url(scheduled), edit_data(scheduled, timezone.now() + timedelta(days=5))
    )
    assert second.status_code == 409 and "being edited" in second.content.decode()
    cancel = client.post(
        reverse(
            "posting:post_cancel",
            kwargs={"code": scheduled.workspace.code, "post_code": scheduled.code},
        )
    )
    assert cancel.status_code == 409 and "being edited" in cancel.content.decode()
    assert queue == [("edit", scheduled.pk)]


def test_who_may_edit(login, vera, charlie, bob, scheduled):
    assert login(vera).get(edit_url(scheduled)).status_code == 403
    assert login(vera).post(edit_url(scheduled), {}).status_code == 403
    assert login(charlie).get(edit_url(scheduled)).status_code == 404
    assert login(bob).put(edit_url(scheduled)).status_code == 405


def test_a_post_already_out_is_not_editable(login, bob, scheduled, queue):
    Post.objects.filter(pk=scheduled.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    scheduled.refresh_from_db()
    assert not edits.can_edit(scheduled)
    page = login(bob).get(edit_url(scheduled))
    assert 'data-testid="not-editable"' in page.content.decode()
    response = login(bob).post(
        edit_url(scheduled), edit_data(scheduled, timezone.now() + timedelta(days=3))
    )
    assert response.status_code == 409 and queue == []


def test_an_edit_that_moves_the_cover_makes_the_thumbnail_again(
    login, bob, scheduled, sandbox, connected_ws, queue
):
    """The edit keeps its thumbnail only while the cover time stays; a new cover time gets the
    frame at that time (the old file removed), once the edit has committed."""
    from posting.sending import thumbnails

    assert scheduled.thumbnail, "the compose made the first thumbnail"
    old_name = scheduled.thumbnail.name
    storage = scheduled.thumbnail.storage
    when = timezone.now() + timedelta(days=3)
    login(bob).post(edit_url(scheduled), edit_data(scheduled, when, cover_second="2.5"))
    assert tasks.edit_post(scheduled.pk) == "edited"
    scheduled.refresh_from_db()
    assert scheduled.cover_second == 2.5
    assert scheduled.thumbnail and scheduled.thumbnail.name != old_name
    assert not storage.exists(old_name)
    # The same cover again: nothing is made twice.
    assert "already" in thumbnails.thumbnail_make(post_id=scheduled.pk)
