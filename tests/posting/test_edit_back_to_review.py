"""Issue 18, edits after approval: in a workspace with review, an edit of a scheduled post's
content (caption, accounts, cover) takes it off Taisly's schedule and sends it back to review as
a draft with its video and its versions; a time-only edit is made at once, as in any workspace.
Against the sandbox over HTTP: the cancel failing (nothing made, the post stays scheduled), a
worker that dies half-way (resumed, one draft), and the new draft approved (one Taisly post)."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Membership, Workspace
from posting import tasks
from posting.approvals import services as approvals
from posting.models import Alert, Draft, DraftVersion, Post, ReviewStage, ReviewState
from posting.sending import edits, limits, rereview
from tests.personas import verified_user
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_data, in_sandbox, local, save_draft

pytestmark = pytest.mark.django_db(transaction=True)


def edit_url(post) -> str:
    return reverse(
        "posting:post_edit", kwargs={"code": post.workspace.code, "post_code": post.code}
    )


def post_url(post) -> str:
    return reverse("posting:post", kwargs={"code": post.workspace.code, "post_code": post.code})


def draft_url(draft) -> str:
    return reverse("posting:draft", kwargs={"code": draft.workspace.code, "draft_code": draft.code})


def edit_data(post, when, **extra) -> dict:
    data = compose_data(post.workspace, when="later", scheduled_at=local(when))
    data["description"] = post.description
    data.update(extra)
    return data


@pytest.fixture
def approved(login, bob, alice, workspace, connected_ws, video_file, queue):
    """Bob's post, approved internally by alice and scheduled at the sandbox two days ahead."""
    Workspace.objects.filter(pk=workspace.pk).update(approval_workflow="internal")
    workspace.approval_workflow = "internal"
    when = (timezone.now() + timedelta(days=2)).replace(second=0, microsecond=0)
    response, _data = save_draft(
        login(bob),
        workspace,
        video_file(),
        description="Approved words",
        when="later",
        scheduled_at=local(when),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    draft = approvals.submit_for_review(draft=Draft.objects.get(), actor=bob)
    post = approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice).post
    assert tasks.forward_post(post.pk) == "sent"
    queue.clear()
    post.refresh_from_db()
    assert post.state == Post.State.SENT and post.taisly_id
    return post


def test_a_content_edit_goes_back_to_review_with_its_video_and_versions(
    login, bob, alice, approved, sandbox, connected_ws, queue
):
    post = approved
    form = login(bob).get(edit_url(post)).content.decode()
    assert 'data-testid="edit-review"' in form
    assert "takes the post off Taisly's schedule (1 request, to cancel it)" in html.unescape(form)
    assert "it costs 1 Taisly request now, to cancel it" in html.unescape(form)

    response = login(bob).post(
        edit_url(post), edit_data(post, post.scheduled_at, description="New words")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    post.refresh_from_db()
    assert post.state == Post.State.EDITING and queue == [("edit", post.pk)]
    assert post.edit_pending["review"]["editor"] == bob.pk
    waiting = html.unescape(login(bob).get(post_url(post)).content.decode())
    assert "takes the post off Taisly's schedule, then sends it back for review" in waiting

    assert tasks.edit_post(post.pk) == "back_to_review"
    assert tasks.edit_post(post.pk) == "not claimed"
    # Nothing is scheduled at Taisly, and nothing is queued to be made there.
    assert in_sandbox(sandbox, connected_ws) == []
    assert not any(kind == "forward" for kind, _pk in queue)
    post.refresh_from_db()
    assert post.state == Post.State.CANCELLED and not post.video
    assert "went back to review" in post.state_reason

    draft = Draft.objects.get(from_post=post)
    assert draft.review_state == ReviewState.IN_REVIEW
    assert draft.review_stage == ReviewStage.INTERNAL
    assert draft.description == "New words" and draft.author == bob
    assert draft.scheduled_at == post.scheduled_at
    assert sorted(draft.target_platforms.values_list("network", flat=True)) == [
        "Instagram",
        "TikTok",
    ]
    assert draft.video and draft.video.storage.exists(draft.video.name)
    # The one file is counted once: by the draft now, by neither post nor the sent draft.
    assert limits.workspace_storage(post.workspace).used == draft.video_size > 0
    versions = list(DraftVersion.objects.filter(draft=draft).order_by("number"))
    assert [(v.number, v.description, v.author) for v in versions] == [
        (1, "Approved words", bob),
        (2, "New words", bob),
    ]
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.POST_BACK_TO_REVIEW, target=str(post.code)
    ).exists()

    page = login(bob).get(post_url(post)).content.decode()
    assert 'data-testid="review-draft-link"' in page and draft_url(draft) in page
    page = login(alice).get(draft_url(draft)).content.decode()
    assert 'data-testid="review-from-post"' in page and post_url(post) in page
    assert page.count('data-testid="review-version"') == 2

    # Four eyes: bob wrote it. Alice approves: exactly one Taisly post, with the new words.
    with pytest.raises(approvals.NotAReviewer):
        approvals.decide(draft_id=draft.pk, decision="approve", by_user=bob)
    made = approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice).post
    assert tasks.forward_post(made.pk) == "sent"
    [at_taisly] = in_sandbox(sandbox, connected_ws)
    made.refresh_from_db()
    assert at_taisly["id"] == made.taisly_id and at_taisly["description"] == "New words"
    assert made.video.name == draft.video.name and made.video.storage.exists(made.video.name)
    assert Post.objects.exclude(state=Post.State.CANCELLED).count() == 1


def test_the_editor_does_not_approve_their_own_edit(login, alice, approved, workspace, queue):
    post = approved
    dora = verified_user("dora@example.test", "Dora")
    Membership.objects.create(workspace=workspace, user=dora, role=Membership.Role.EDITOR)
    login(alice).post(edit_url(post), edit_data(post, post.scheduled_at, description="Alice's"))
    assert tasks.edit_post(post.pk) == "back_to_review"
    draft = Draft.objects.get(from_post=post)
    with pytest.raises(approvals.NotAReviewer):
        approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice)
    outcome = approvals.decide(draft_id=draft.pk, decision="approve", by_user=dora)
    assert outcome.state == ReviewState.APPROVED and outcome.post is not None


def test_when_the_cancel_fails_nothing_goes_to_review_and_the_post_stays(
    login, bob, approved, sandbox, connected_ws, queue
):
    post = approved
    [original] = in_sandbox(sandbox, connected_ws)
    login(bob).post(edit_url(post), edit_data(post, post.scheduled_at, description="New words"))
    sandbox.fault("500")  # the cancel; history, read next, still has the post
    assert tasks.edit_post(post.pk) == "edit_failed"
    post.refresh_from_db()
    assert post.state == Post.State.SENT and post.taisly_id == original["id"]
    assert post.description == "Approved words" and post.video
    assert "still scheduled at Taisly as it was" in post.state_reason
    assert [p["id"] for p in in_sandbox(sandbox, connected_ws)] == [original["id"]]
    assert not Draft.objects.filter(from_post=post).exists()
    assert Alert.objects.filter(post=post, kind=Alert.Kind.EDIT_FAILED).exists()
    assert "The edit was not made" in login(bob).get(post_url(post)).content.decode()


def test_a_worker_that_dies_half_way_is_resumed_and_makes_one_draft(
    login, bob, approved, sandbox, connected_ws, queue, monkeypatch
):
    post = approved
    login(bob).post(edit_url(post), edit_data(post, post.scheduled_at, description="New words"))
    made = rereview.back_to_review

    def dies(*args, **kwargs):
        raise SystemExit("the worker was killed")

    monkeypatch.setattr(rereview, "back_to_review", dies)
    with pytest.raises(SystemExit):
        tasks.edit_post(post.pk)
    post.refresh_from_db()
    # Cancelled at Taisly, the draft not made yet: the stalled check resumes it.
    assert post.state == Post.State.REPLACING and post.taisly_id is None
    assert in_sandbox(sandbox, connected_ws) == []
    assert not Draft.objects.filter(from_post=post).exists()

    monkeypatch.setattr(rereview, "back_to_review", made)
    stale = timezone.now() + timedelta(seconds=1)
    assert edits.edit_resume(post_id=post.pk, stale_before=stale) == "back_to_review"
    # Again (a second check, a redelivered task): nothing to claim, and the draft is not made twice
    # even when asked directly.
    assert edits.edit_resume(post_id=post.pk, stale_before=stale) == "not claimed"
    assert tasks.edit_post(post.pk) == "not claimed"
    draft = Draft.objects.get(from_post=post)
    assert rereview.back_to_review(post, [post], "internal") == draft
    assert Draft.objects.filter(sent_at__isnull=True).count() == 1
    post.refresh_from_db()
    assert post.state == Post.State.CANCELLED
    assert draft.video and draft.video.storage.exists(draft.video.name)
    assert limits.workspace_storage(post.workspace).used == draft.video_size


def test_a_time_only_edit_is_made_at_once_without_review(
    login, bob, approved, sandbox, connected_ws, queue
):
    post = approved
    later = post.scheduled_at + timedelta(hours=3)
    response = login(bob).post(edit_url(post), edit_data(post, later))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert tasks.edit_post(post.pk) == "edited"
    assert tasks.forward_post(post.pk) == "sent"
    post.refresh_from_db()
    assert post.state == Post.State.SENT and post.scheduled_at == later
    assert post.description == "Approved words"
    [at_taisly] = in_sandbox(sandbox, connected_ws)
    assert at_taisly["id"] == post.taisly_id
    assert not Draft.objects.filter(from_post__isnull=False).exists()


def test_a_stalled_edit_going_to_review_is_resumed_even_past_its_time(
    login, bob, approved, sandbox, connected_ws, queue, monkeypatch
):
    """The edit is kept (a draft in review; approved late it is held), not dropped because the
    worker died until after its time."""
    post = approved
    login(bob).post(edit_url(post), edit_data(post, post.scheduled_at, description="New words"))
    Post.objects.filter(pk=post.pk).update(
        state=Post.State.REPLACING, updated_at=timezone.now() - timedelta(hours=1)
    )
    later = post.scheduled_at + timedelta(hours=1)
    assert (
        edits.edit_resume(post_id=post.pk, stale_before=timezone.now(), now=later)
        == "back_to_review"
    )
    assert in_sandbox(sandbox, connected_ws) == []
    assert Draft.objects.get(from_post=post).description == "New words"


def test_the_pages_run_a_fixed_number_of_queries_whatever_the_versions(
    login, bob, alice, approved, queue
):
    """The post page's link and the draft page's note and versions: as many queries with two
    versions as with five."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    post = approved
    login(bob).post(edit_url(post), edit_data(post, post.scheduled_at, description="New words"))
    assert tasks.edit_post(post.pk) == "back_to_review"
    draft = Draft.objects.get(from_post=post)
    client = login(alice)

    def counted(url) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    counted(post_url(post)), counted(draft_url(draft))  # once: anything a first visit marks
    before = (counted(post_url(post)), counted(draft_url(draft)))
    for number in (3, 4, 5):
        DraftVersion.objects.create(draft=draft, number=number, description=f"v{number}")
    after = (counted(post_url(post)), counted(draft_url(draft)))
    assert before == after
    assert client.get(draft_url(draft)).content.decode().count('data-testid="review-version"') == 5


def test_a_caption_per_network_goes_to_review_and_out_as_two_taisly_posts(
    login, bob, alice, approved, sandbox, connected_ws, queue
):
    post = approved
    data = edit_data(
        post,
        post.scheduled_at,
        description="For all",
        separate_captions="on",
        caption_TikTok="Only for TikTok",
    )
    response = login(bob).post(edit_url(post), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert tasks.edit_post(post.pk) == "back_to_review"
    draft = Draft.objects.get(from_post=post)
    assert draft.description == "For all" and draft.captions == {"TikTok": "Only for TikTok"}
    made = approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice).post
    rows = [made, *Post.objects.filter(group=made)]
    for row in rows:
        assert tasks.forward_post(row.pk) == "sent"
    at_taisly = sorted(p["description"] for p in in_sandbox(sandbox, connected_ws))
    assert at_taisly == ["For all", "Only for TikTok"]
    # Edited again: both Taisly posts are cancelled, one draft, the whole history carried.
    made.refresh_from_db()
    response = login(bob).post(
        edit_url(made), edit_data(made, made.scheduled_at, description="Third")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert tasks.edit_post(made.pk) == "back_to_review"
    assert in_sandbox(sandbox, connected_ws) == []
    assert set(
        Post.objects.filter(pk__in=[r.pk for r in rows]).values_list("state", flat=True)
    ) == {Post.State.CANCELLED}
    third = Draft.objects.get(from_post=made)
    assert list(third.versions.order_by("number").values_list("description", flat=True)) == [
        "Approved words",
        "For all",
        "Third",
    ]
    assert limits.workspace_storage(post.workspace).used == third.video_size
