"""A held post (approved after its planned time passed) edited on its draft page, through the
test client: a change to what was approved saves it and sends it back to review, and the page
says so (a redirect and a success message, never "This post is in review" as an error), with
"submitted" the new time; a new time alone, the approval standing, sends it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from posting.approvals import services as approvals
from posting.models import Draft, Post, ReviewStage, ReviewState
from tests.posting import test_approvals
from tests.posting.sandbox_posts import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_data
from tests.posting.webhook_receiver import *  # noqa: F403 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)

in_review = test_approvals.in_review


def held(in_review, approver, workflow="internal") -> Draft:
    draft = in_review(workflow, later=timedelta(hours=2))
    Draft.objects.filter(pk=draft.pk).update(scheduled_at=timezone.now() - timedelta(minutes=5))
    outcome = approvals.decide(draft_id=draft.pk, decision="approve", by_user=approver)
    assert outcome.state == ReviewState.HELD
    return Draft.objects.get(pk=draft.pk)


def send(client, draft, **fields):
    when = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    data = compose_data(
        draft.workspace, when="later", scheduled_at=when, **{"description": "For review", **fields}
    )
    url = reverse(
        "posting:draft_send", kwargs={"code": draft.workspace.code, "draft_code": draft.code}
    )
    return client.post(url, data)


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_an_edited_caption_is_saved_and_back_in_review_not_an_error(
    in_review, login, alice, bob, no_queue, calls
):
    draft = held(in_review, alice)
    before = draft.submitted_at
    client = login(bob)
    response = send(client, draft, description="A new caption")
    page = reverse("posting:draft", kwargs={"code": draft.workspace.code, "draft_code": draft.code})
    assert response.status_code == 302 and response["Location"] == page
    [message] = said(response)
    assert "saved" in message and "back in review, with your team" in message
    draft.refresh_from_db()
    assert draft.description == "A new caption"
    assert draft.review_state == ReviewState.IN_REVIEW
    assert draft.review_stage == ReviewStage.INTERNAL and draft.submitted_at > before
    assert not Post.objects.exists() and no_queue == [] and calls == []
    html = client.get(page).content.decode()  # the message, once
    assert "back in review" in html and "This post is in review" not in html


def test_at_the_clients_stage_it_says_the_client_reviews_it(
    in_review, login, bob, vera, workspace, no_queue
):
    Membership.objects.filter(user=vera, workspace=workspace).update(can_approve=True)
    draft = held(in_review, vera, workflow="client")
    response = send(login(bob), draft, description="Changed for the client")
    assert response.status_code == 302
    assert "back in review, with the client" in said(response)[0]
    assert Draft.objects.get(pk=draft.pk).review_stage == ReviewStage.CLIENT
    assert not Post.objects.exists() and no_queue == []


def test_a_new_time_alone_keeps_the_approval_and_sends_it(in_review, login, alice, bob, no_queue):
    draft = held(in_review, alice)
    response = send(login(bob), draft)
    post = Post.objects.get()
    assert response.status_code == 302 and str(post.code) in response["Location"]
    assert no_queue == [post.pk]
    assert "on its way" in said(response)[0]
