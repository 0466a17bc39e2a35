"""A link holder's decisions and comments, through the approvals' ``decide`` with the link: a
request for changes reaches the author with its comment and the audit log with the address;
approving queues the post exactly once (a second click makes nothing more); a revoked link and a
draft not waiting for the client are refused with a sentence. Comments: internal ones stay with
the team, mentions are kept and told, the author is told, and each is audited."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Membership, Workspace
from posting.approvals import services as approvals
from posting.models import Alert, Comment, Draft, Post, ReviewLink
from posting.reviewlinks.comments import mentioned_members
from tests.personas import verified_user
from tests.posting.sandbox_posts import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import save_draft
from tests.reviewlinks.test_review_links import open_link, send_link, token_from_mail

pytestmark = pytest.mark.django_db(transaction=True)

Action = AuditEvent.Action


@pytest.fixture
def waiting(login, bob, workspace, connected_ws, video_file, calls, no_queue):
    """bob's draft waiting for the client, and a link holder's browser on it: (draft, client)."""
    Workspace.objects.filter(pk=workspace.pk).update(approval_workflow="client")
    workspace.approval_workflow = "client"
    save_draft(login(bob), workspace, video_file(), description="Client sees this")
    draft = approvals.submit_for_review(draft=Draft.objects.latest("id"), actor=bob)
    assert draft.review_stage == "client"
    send_link(login(bob), draft)
    return draft, open_link(token_from_mail(mail.outbox[-1]))


def decide(client, draft, decision, comment=""):
    return client.post(
        reverse("review:decide", args=[draft.code]),
        {"decision": decision, "comment": comment},
        follow=True,
    )


def test_the_reviewer_requests_changes_with_a_comment(waiting, bob, calls, no_queue):
    draft, client = waiting
    refused = decide(client, draft, "changes")
    assert b"comment is needed" in refused.content
    response = decide(client, draft, "changes", "Shorter caption, please")
    assert b"the team was told" in response.content
    draft.refresh_from_db()
    assert draft.review_state == "changes_requested"
    assert draft.decided_by_address == "client@example.test"
    event = AuditEvent.objects.get(action=Action.REVIEW_CHANGES_REQUESTED)
    assert event.details["address"] == "client@example.test" and event.actor is None
    alert = Alert.objects.get(kind=Alert.Kind.CHANGES_REQUESTED)
    assert alert.recipient == bob and "Shorter caption" in alert.message
    assert calls == [] and no_queue == [] and not Post.objects.exists()


def test_approving_queues_the_post_exactly_once(waiting, no_queue):
    draft, client = waiting
    first = decide(client, draft, "approve")
    assert b"you approved this post" in first.content
    decide(client, draft, "approve")
    assert Post.objects.count() == 1 and len(no_queue) == 1
    draft.refresh_from_db()
    assert draft.review_state == "approved" and draft.sent_post_id == no_queue[0]
    approved = AuditEvent.objects.get(action=Action.REVIEW_APPROVED)
    assert approved.details["address"] == "client@example.test"


def test_a_revoked_link_decides_nothing(waiting, no_queue):
    draft, client = waiting
    ReviewLink.objects.update(revoked_at=timezone.now())
    response = decide(client, draft, "approve")
    assert response.status_code == 410 and b"was withdrawn" in response.content
    assert not Post.objects.exists() and no_queue == []


def test_a_draft_not_waiting_for_the_client_is_refused_in_words(waiting, no_queue):
    draft, client = waiting
    Draft.objects.filter(pk=draft.pk).update(review_state="changes_requested")
    response = decide(client, draft, "approve")
    assert b"Changes were requested already" in response.content
    assert not Post.objects.exists()


def test_comments_internal_ones_stay_with_the_team(waiting, login, bob, alice, workspace):
    draft, client = waiting
    members_url = reverse(
        "posting:draft_comment", kwargs={"code": workspace.code, "draft_code": draft.code}
    )
    login(alice).post(members_url, {"body": "Internal: @bob check the hook", "internal": "1"})
    login(alice).post(members_url, {"body": "Hello client, @Bob fixes it"})
    client.post(reverse("review:comment", args=[draft.code]), {"body": "Love the video"})
    internal, shared, from_client = Comment.objects.order_by("id")
    assert internal.internal and list(internal.mentions.all()) == [bob]
    assert not shared.internal and list(shared.mentions.all()) == [bob]
    assert from_client.author is None and from_client.author_address == "client@example.test"
    page = client.get(reverse("review:page")).content
    assert b"Hello client" in page and b"Love the video" in page
    assert b"check the hook" not in page
    # bob (the author, and mentioned) is told once per comment; alice, a watcher once she
    # commented, of the client's; nobody of their own comment.
    told = Alert.objects.filter(kind=Alert.Kind.COMMENTED).order_by("id")
    assert [a.recipient_id for a in told] == [bob.pk, bob.pk, bob.pk, alice.pk]
    assert AuditEvent.objects.filter(action=Action.COMMENT_ADDED).count() == 3
    members_page = login(bob).get(
        reverse("posting:draft_review", kwargs={"code": workspace.code, "draft_code": draft.code})
    )
    assert b"check the hook" in members_page.content and b"Love the video" in members_page.content


def test_a_viewer_is_the_clients_side_and_reads_no_internal_comment(
    waiting, login, alice, vera, workspace
):
    """A viewer (a client reviewer, or someone shown the work) reads what a link's holder
    reads: not the team's internal comments; and what they write is for everyone, even when
    the form is sent with ``internal`` (the service decides it, not the page)."""
    draft, _client = waiting
    kwargs = {"code": workspace.code, "draft_code": draft.code}
    login(alice).post(
        reverse("posting:draft_comment", kwargs=kwargs),
        {"body": "Internal: the margin is thin", "internal": "1"},
    )
    viewer = login(vera)

    page = viewer.get(reverse("posting:draft_review", kwargs=kwargs)).content.decode()
    viewer.post(
        reverse("posting:draft_comment", kwargs=kwargs),
        {"body": "Looks good to us", "internal": "1"},
    )

    assert "the margin is thin" not in page and 'data-testid="comment-internal-box"' not in page
    assert not Comment.objects.get(body="Looks good to us").internal
    team_page = login(alice).get(reverse("posting:draft_review", kwargs=kwargs)).content.decode()
    assert "the margin is thin" in team_page and "Looks good to us" in team_page


@pytest.mark.parametrize(("body", "words"), [("", b"Write a comment"), ("x" * 2001, b"at most")])
def test_a_bad_comment_gets_a_sentence(waiting, body, words):
    draft, client = waiting
    response = client.post(
        reverse("review:comment", args=[draft.code]), {"body": body}, follow=True
    )
    assert response.status_code == 200 and words in response.content
    assert not Comment.objects.exists()


def test_mentions_match_members_only(workspace, alice, bob, charlie):
    dora = verified_user("dora.lee@example.test", "Dora Lee")
    Membership.objects.create(workspace=workspace, user=dora, role=Membership.Role.VIEWER)
    found = mentioned_members(
        "@alice@example.test and @dora, not @charlie nor me@x.test", workspace.pk
    )
    assert sorted(u.email for u in found) == ["alice@example.test", "dora.lee@example.test"]


def test_a_stranger_without_a_link_cannot_comment_or_decide(waiting):
    draft, _client = waiting
    stranger = Client()
    assert (
        stranger.post(reverse("review:comment", args=[draft.code]), {"body": "x"}).status_code
        == 404
    )
    assert (
        stranger.post(
            reverse("review:decide", args=[draft.code]), {"decision": "approve"}
        ).status_code
        == 404
    )
    assert not Comment.objects.exists()
