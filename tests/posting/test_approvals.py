"""Approvals (issue 18): a post in review is a draft that never reaches Taisly; the last
approval sends it exactly once (two approvers at once included, on PostgreSQL's row locks);
a post approved after its time is held, not sent late; who may decide is decided under lock;
the workflow turned off or a reviewer removed while a post waits."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection as db
from django.utils import timezone

from accounts import services as account_services
from accounts.models import AuditEvent, Membership, Workspace
from posting.alerts.selectors import alerts_for_user
from posting.approvals import services as approvals
from posting.models import Alert, Draft, DraftVersion, Post, ReviewStage, ReviewState
from posting.sending import drafts
from posting.sending.errors import PostActionError
from tests.personas import verified_user
from tests.posting.sandbox_posts import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_data, compose_url, save_draft
from tests.posting.webhook_receiver import *  # noqa: F403 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)

Action = AuditEvent.Action


def set_workflow(workspace, workflow) -> None:
    Workspace.objects.filter(pk=workspace.pk).update(approval_workflow=workflow)
    workspace.approval_workflow = workflow


@pytest.fixture
def dora(workspace):
    """A second editor: approves bob's posts internally."""
    user = verified_user("dora@example.test", "Dora")
    Membership.objects.create(workspace=workspace, user=user, role=Membership.Role.EDITOR)
    return user


@pytest.fixture
def in_review(login, bob, workspace, connected_ws, video_file, calls, no_queue):
    """``make(workflow, later=...)``: bob's draft, submitted for review under ``workflow``."""

    def make(workflow="internal", *, later: timedelta | None = None) -> Draft:
        set_workflow(workspace, workflow)
        extra = {}
        if later is not None:
            when = timezone.localtime() + later
            extra = {"when": "later", "scheduled_at": when.strftime("%Y-%m-%dT%H:%M")}
        save_draft(login(bob), workspace, video_file(), description="For review", **extra)
        draft = Draft.objects.latest("id")
        return approvals.submit_for_review(draft=draft, actor=bob)

    return make


def test_in_review_nothing_reaches_taisly_and_the_video_is_kept(
    in_review, login, bob, alice, workspace, video_file, calls, no_queue
):
    draft = in_review("internal")
    assert draft.review_state == ReviewState.IN_REVIEW
    assert draft.review_stage == ReviewStage.INTERNAL
    assert DraftVersion.objects.filter(draft=draft).count() == 1
    # Neither the draft page's send nor the compose form's post sends it while review is on.
    with pytest.raises(PostActionError, match="in review"):
        drafts.draft_send(draft=draft, actor=bob)
    with open(video_file(), "rb") as fh:
        response = login(bob).post(compose_url(workspace), {**compose_data(workspace), "video": fh})
    assert response.status_code == 422 and "reviewed before" in response.content.decode()
    approvals.decide(draft_id=draft.pk, decision="changes", comment="Shorter", by_user=alice)
    with pytest.raises(PostActionError, match="Changes were requested"):
        drafts.draft_send(draft=draft, actor=bob)
    draft.refresh_from_db()
    assert draft.video and draft.video.storage.exists(draft.video.name)
    assert calls == [] and no_queue == [] and not Post.objects.exists()


def test_approving_sends_it_once_and_tells_the_author(in_review, alice, bob, workspace, no_queue):
    draft = in_review("internal")
    outcome = approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice)
    post = Post.objects.get()
    assert outcome.post == post and outcome.state == ReviewState.APPROVED
    assert no_queue == [post.pk] and post.author == bob
    again = approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice)
    assert again.repeated and again.post == post and Post.objects.count() == 1
    actions = list(
        AuditEvent.objects.filter(target__in=[str(draft.code), str(post.code)])
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions[-3:] == [Action.REVIEW_SUBMITTED, Action.REVIEW_APPROVED, Action.DRAFT_SENT]
    [alert] = Alert.objects.filter(kind=Alert.Kind.APPROVED)
    assert alert.recipient == bob and alert.draft_id == draft.pk and alert.post == post
    # Only the author (its one watcher) sees it among the workspace's alerts; alice saw the
    # request for her review, and not her own approval.
    assert list(alerts_for_user(workspace, bob)) == [alert]
    assert [a.kind for a in alerts_for_user(workspace, alice)] == [Alert.Kind.REVIEW_REQUESTED]


@pytest.mark.postgres_only
def test_two_approvers_at_once_send_one_post(in_review, alice, dora, no_queue):
    draft = in_review("internal")
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def approve(user):
        try:
            barrier.wait(timeout=10)
            outcomes.append(approvals.decide(draft_id=draft.pk, decision="approve", by_user=user))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            db.close()  # each thread had its own connection

    threads = [threading.Thread(target=approve, args=(u,)) for u in (alice, dora)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(o.repeated for o in outcomes) == [False, True]
    assert Post.objects.count() == 1 and len(no_queue) == 1
    assert AuditEvent.objects.filter(action=Action.DRAFT_SENT).count() == 1
    assert AuditEvent.objects.filter(action=Action.REVIEW_APPROVED).count() == 1


def test_approved_after_its_time_is_held_not_sent(in_review, alice, bob, no_queue, calls):
    draft = in_review("internal", later=timedelta(hours=2))
    Draft.objects.filter(pk=draft.pk).update(scheduled_at=timezone.now() - timedelta(minutes=5))
    outcome = approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice)
    assert outcome.state == ReviewState.HELD and outcome.post is None
    assert not Post.objects.exists() and no_queue == [] and calls == []
    [alert] = Alert.objects.filter(kind=Alert.Kind.HELD)
    assert alert.recipient == bob and "not sent" in alert.message
    assert AuditEvent.objects.filter(action=Action.REVIEW_HELD).count() == 1
    # The author chooses a new time: the approval stands, and the post goes out then.
    draft.refresh_from_db()
    new_time = timezone.now() + timedelta(days=1)
    fields = drafts.DraftFields(
        platforms=list(draft.target_platforms.all()),
        description=draft.description,
        captions=draft.captions,
        cover_second=draft.cover_second,
        scheduled_at=new_time,
    )
    draft = drafts.draft_update(draft=draft, actor=bob, fields=fields)
    assert draft.review_state == ReviewState.HELD
    post = drafts.draft_send(draft=draft, actor=bob)
    assert post.scheduled_at == new_time and no_queue == [post.pk]


def test_who_may_decide(in_review, workspace, alice, bob, vera, charlie, dora):
    draft = in_review("internal")
    for user in (bob, vera, charlie):  # the author, a viewer, an outsider
        with pytest.raises(approvals.NotAReviewer):
            approvals.decide(draft_id=draft.pk, decision="approve", by_user=user)
    # A member of another workspace, even its owner.
    other = Workspace.objects.create(name="Other")
    Membership.objects.create(workspace=other, user=charlie, role=Membership.Role.OWNER)
    with pytest.raises(approvals.NotAReviewer):
        approvals.decide(draft_id=draft.pk, decision="approve", by_user=charlie)
    # A viewer with the reviewer right approves at the client stage only.
    Membership.objects.filter(user=vera).update(can_approve=True)
    with pytest.raises(approvals.NotAReviewer):
        approvals.decide(draft_id=draft.pk, decision="approve", by_user=vera)
    approvals.decide(draft_id=draft.pk, decision="approve", by_user=dora)
    assert Post.objects.count() == 1
    draft.refresh_from_db()
    assert draft.decided_by == dora and draft.review_state == ReviewState.APPROVED


def test_internal_then_client(in_review, alice, bob, vera, no_queue):
    draft = in_review("internal_client")
    Membership.objects.filter(user=vera).update(can_approve=True)
    first = approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice)
    assert first.state == ReviewState.IN_REVIEW and first.stage == ReviewStage.CLIENT
    # Alice's double click finds her approval made; she is no client reviewer.
    assert approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice).repeated
    assert not Post.objects.exists()
    final = approvals.decide(draft_id=draft.pk, decision="approve", by_user=vera)
    assert final.state == ReviewState.APPROVED and Post.objects.count() == 1


class Link:
    """A review link as the decision takes one (the real model is the review links')."""

    address = "client@example.test"

    def __init__(self, draft, usable=True):
        self.draft, self.usable = draft, usable
        # Sent by the draft's author, an editor still on the team.
        self.workspace_id, self.created_by_id = draft.workspace_id, draft.author_id

    def is_usable(self):
        return self.usable

    def covers(self, draft):
        return draft.pk == self.draft.pk


def test_a_review_link_decides_at_the_client_stage_only(in_review, alice, no_queue):
    draft = in_review("internal_client")
    with pytest.raises(approvals.ReviewError, match="client's review"):
        approvals.decide(draft_id=draft.pk, decision="approve", by_link=Link(draft))
    approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice)
    with pytest.raises(approvals.ReviewError, match="expired or was revoked"):
        approvals.decide(draft_id=draft.pk, decision="approve", by_link=Link(draft, usable=False))
    other = Draft.objects.create(workspace=draft.workspace)
    with pytest.raises(approvals.ReviewError, match="not for this post"):
        approvals.decide(draft_id=draft.pk, decision="approve", by_link=Link(other))
    outcome = approvals.decide(
        draft_id=draft.pk, decision="changes", comment="Too long", by_link=Link(draft)
    )
    assert outcome.state == ReviewState.CHANGES_REQUESTED
    event = AuditEvent.objects.get(action=Action.REVIEW_CHANGES_REQUESTED)
    assert event.details["address"] == "client@example.test" and event.actor is None


def test_bad_decisions_are_refused_in_words(in_review, alice):
    draft = in_review("internal")
    with pytest.raises(approvals.ReviewError, match="Say what should change"):
        approvals.decide(draft_id=draft.pk, decision="changes", by_user=alice)
    with pytest.raises(approvals.ReviewError, match="too long"):
        approvals.decide(draft_id=draft.pk, decision="changes", comment="x" * 2001, by_user=alice)
    with pytest.raises(approvals.ReviewError, match="no longer waiting"):
        approvals.decide(draft_id=10**9, decision="approve", by_user=alice)
    with pytest.raises(ValueError):
        approvals.decide(draft_id=draft.pk, decision="approve")


def test_workflow_turned_off_while_a_post_waits(in_review, workspace, alice, bob, no_queue):
    draft = in_review("internal")
    moved = approvals.workflow_set(workspace=workspace, actor=alice, workflow="none")
    assert moved == 1
    draft.refresh_from_db()
    assert draft.review_state == "" and draft.review_stage == ""
    [alert] = Alert.objects.filter(kind=Alert.Kind.RETURNED)
    assert alert.recipient == bob
    assert AuditEvent.objects.filter(action=Action.WORKSPACE_APPROVAL_WORKFLOW).count() == 1
    assert AuditEvent.objects.filter(action=Action.REVIEW_RETURNED).count() == 1
    with pytest.raises(approvals.ReviewError):
        approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice)
    # Its author sends it now, as any draft.
    post = drafts.draft_send(draft=draft, actor=bob)
    assert no_queue == [post.pk]
    # Only owners set the workflow.
    with pytest.raises(approvals.RoleRequired):
        approvals.workflow_set(workspace=workspace, actor=bob, workflow="internal")


def test_a_reviewer_removed_while_a_post_waits_cannot_decide(
    in_review, workspace, alice, dora, vera
):
    draft = in_review("internal")
    membership = Membership.objects.get(workspace=workspace, user=dora)
    account_services.member_remove(membership=membership, actor=alice)
    with pytest.raises(approvals.NotAReviewer, match="not a member"):
        approvals.decide(draft_id=draft.pk, decision="approve", by_user=dora)
    # The client reviewer whose right is taken away, likewise.
    approvals.workflow_set(workspace=workspace, actor=alice, workflow="client")
    draft.refresh_from_db()
    assert draft.review_stage == ReviewStage.CLIENT  # moved to the new workflow's stage
    Membership.objects.filter(user=vera).update(can_approve=False)
    with pytest.raises(approvals.NotAReviewer):
        approvals.decide(draft_id=draft.pk, decision="approve", by_user=vera)
    assert not Post.objects.exists()


def test_an_edit_in_review_starts_the_review_again(in_review, alice, bob, vera):
    draft = in_review("internal_client")
    approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice)
    draft.refresh_from_db()
    fields = drafts.DraftFields(
        platforms=list(draft.target_platforms.all()),
        description="Changed words",
        captions={},
        cover_second=draft.cover_second,
        scheduled_at=None,
    )
    draft = drafts.draft_update(draft=draft, actor=bob, fields=fields)
    draft.refresh_from_db()
    assert draft.review_state == ReviewState.IN_REVIEW
    assert draft.review_stage == ReviewStage.INTERNAL
    versions = list(DraftVersion.objects.filter(draft=draft))
    assert [v.number for v in versions] == [2, 1]
    assert versions[0].description == "Changed words" and versions[1].description == "For review"
    assert AuditEvent.objects.filter(action=Action.REVIEW_RESET).count() == 1


def test_decision_emails_go_to_the_author_alone(in_review, alice, bob):
    from posting.alerts.emails import alerts_email

    draft = in_review("internal")
    mail.outbox.clear()
    approvals.decide(
        draft_id=draft.pk, decision="changes", comment="Fix the caption", by_user=alice
    )
    alert = Alert.objects.get(kind=Alert.Kind.CHANGES_REQUESTED)
    # Sent once it committed (the task, run here in-process): editors and owners hear of
    # alerts immediately by default, but only the author hears of this one; once.
    assert [m.to for m in mail.outbox] == [[bob.email]]
    assert "Fix the caption" in mail.outbox[0].body
    assert alerts_email(alert_ids=[alert.pk]) == 0


def test_decisions_and_comments_reach_webhooks(in_review, workspace, alice, bob, receiver):
    from posting.alerts.reviews import post_commented
    from posting.alerts.webhooks.endpoints import endpoint_create

    endpoint_create(workspace=workspace, actor=alice, url=receiver.url("/json"), format="json")
    endpoint_create(workspace=workspace, actor=alice, url=receiver.url("/slack"), format="slack")
    draft = in_review("internal")
    approvals.decide(draft_id=draft.pk, decision="changes", comment="<!channel> no", by_user=alice)
    post_commented(draft=draft, comment="Looks better")
    drafts.draft_update(
        draft=draft,
        actor=bob,
        fields=drafts.DraftFields(
            platforms=list(draft.target_platforms.all()),
            description="Fixed",
            captions={},
            cover_second=0,
            scheduled_at=None,
        ),
    )
    approvals.submit_for_review(draft=draft, actor=bob)
    approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice)
    bodies = [r.json() for r in receiver.received if r.path == "/json"]
    assert [b["event"] for b in bodies] == [
        "post.review_requested",
        "post.changes_requested",
        "post.commented",
        "post.review_requested",
        "post.approved",
    ]
    assert bodies[1]["draft"]["code"] == str(draft.code) and bodies[1]["post"] is None
    assert bodies[4]["post"]["code"] == str(Post.objects.get().code)
    slack = [r.json()["text"] for r in receiver.received if r.path == "/slack"]
    assert len(slack) == 5 and "&lt;!channel&gt;" in slack[1] and "<!channel>" not in slack[1]


def test_an_approved_scheduled_post_keeps_what_was_approved(in_review, alice, bob, no_queue):
    """While review is on, a new time for a scheduled post is made at once; a new caption,
    account or cover sends it back to review (tests/posting/test_edit_back_to_review.py), never
    out unreviewed."""
    from posting import tasks
    from posting.sending import edits

    draft = in_review("internal", later=timedelta(days=1))
    post = approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice).post
    assert tasks.forward_post(post.pk) == "sent"
    post.refresh_from_db()
    platforms = list(post.target_platforms.all())

    def change(**fields):
        values = {
            "platforms": platforms,
            "description": post.description,
            "captions": {},
            "cover_second": post.cover_second,
            "scheduled_at": post.scheduled_at,
        } | fields
        return edits.PostChange(**values)

    later = post.scheduled_at + timedelta(hours=3)
    edits.post_edit(post=post, actor=bob, change=change(scheduled_at=later))
    # The edit ran (its task runs at once under pytest): remade at the new time, same words.
    remade = Post.objects.get()
    assert remade.scheduled_at == later and remade.description == "For review"
    assert tasks.forward_post(remade.pk) == "sent"
    remade.refresh_from_db()
    edits.post_edit(post=remade, actor=bob, change=change(description="Sneaky"))
    # New words: off the schedule and back in review, not out unreviewed.
    remade.refresh_from_db()
    assert remade.state == Post.State.CANCELLED and remade.description == "For review"
    again = Draft.objects.get(from_post=remade)
    assert again.description == "Sneaky" and again.review_state == ReviewState.IN_REVIEW
