"""What an attack review of the review links (issue 18) found, each kept as a test that failed
before its fix: a link to the author's own address approved their post, a removed member's
link kept deciding, and a holder's comment and decision at once deadlocked."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection as db
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Membership, Workspace
from posting.approvals import services as approvals
from posting.models import Comment, Draft, Platform, Post, ReviewLink, ReviewState
from posting.reviewlinks import comments
from tests.personas import verified_user
from tests.posting.sandbox_posts import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import save_draft
from tests.reviewlinks.test_review_links import open_link, send_link, token_from_mail

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dora(workspace):
    """A second editor."""
    user = verified_user("dora@example.test", "Dora")
    Membership.objects.create(workspace=workspace, user=user, role=Membership.Role.EDITOR)
    return user


@pytest.fixture
def client_draft(login, bob, workspace, connected_ws, video_file, calls, no_queue) -> Draft:
    """bob's draft, submitted for the client's review."""
    Workspace.objects.filter(pk=workspace.pk).update(approval_workflow="client")
    workspace.approval_workflow = "client"
    save_draft(login(bob), workspace, video_file(), description="For review")
    return approvals.submit_for_review(draft=Draft.objects.latest("id"), actor=bob)


def link_decide(client, draft, decision="approve", comment=""):
    return client.post(
        reverse("review:decide", args=[draft.code]),
        {"decision": decision, "comment": comment, "seen": draft.review_seen},
        follow=True,
    )


def linked(login, sender, draft, address="client@example.test"):
    """A link for ``draft`` emailed by ``sender`` to ``address``, opened in a fresh browser."""
    response = send_link(login(sender), draft, address=address)
    assert response.status_code == 200
    return open_link(token_from_mail(mail.outbox[-1]))


@pytest.mark.parametrize("sender", ["bob", "alice"])
def test_no_link_goes_to_the_author_or_its_sender(login, request, bob, client_draft, sender):
    """Four eyes: bob emailed a link to his own address and approved his post through it.
    Neither he nor anyone else may send one to the author's (or the sender's own) address."""
    user = request.getfixturevalue(sender)
    for address in {bob.email.upper(), user.email}:
        response = send_link(login(user), client_draft, address=address)
        assert b"not to you or to the post&#x27;s author" in response.content
    assert not ReviewLink.objects.exists() and mail.outbox == []


def test_a_link_to_the_authors_address_does_not_approve(login, bob, client_draft):
    """A link made before the rule (or an address that became the author's): the decision
    checks the address too, under lock."""
    client = linked(login, bob, client_draft)
    ReviewLink.objects.update(address=bob.email.upper())
    page = link_decide(client, client_draft)
    assert b"someone who wrote this post" in page.content
    client_draft.refresh_from_db()
    assert client_draft.review_state == ReviewState.IN_REVIEW and Post.objects.count() == 0


def test_a_removed_editors_link_stops_deciding_and_commenting(login, alice, dora, client_draft):
    """dora emails herself a link, then is removed: the link still approved (for days)."""
    client = linked(login, dora, client_draft, address="dora.private@example.test")
    account_services.member_remove(
        actor=alice,
        membership=Membership.objects.get(user=dora, workspace=client_draft.workspace),
    )
    page = link_decide(client, client_draft)
    assert b"no longer on the team" in page.content
    # The link's page says so too, and shows the post no more.
    page = client.get(reverse("review:page"))
    assert page.status_code == 410 and b"no longer on the team" in page.content
    assert client.get(reverse("review:video", args=[client_draft.code])).status_code == 404
    client_draft.refresh_from_db()
    assert client_draft.review_state == ReviewState.IN_REVIEW and Post.objects.count() == 0
    with pytest.raises(approvals.ReviewError):
        approvals.decide(
            draft_id=client_draft.pk, decision="approve", by_link=ReviewLink.objects.get()
        )
    link = ReviewLink.objects.get()
    with pytest.raises(comments.PostActionError, match="no longer on the team"):
        comments.comment_add(draft=client_draft, body="Fine by me", by_link=link)
    assert not Comment.objects.exists()


@pytest.mark.postgres_only
def test_a_comment_and_a_decision_through_one_link_at_once_both_finish(
    login, bob, client_draft, monkeypatch
):
    """comment_add locked the link, then the draft; decide the draft, then the link: opposite
    orders, so PostgreSQL found a deadlock and one request failed. The comment here holds its
    locks until the decision waits on one of them, then goes on: both must finish."""
    send_link(login(bob), client_draft)
    link = ReviewLink.objects.get()
    where = threading.local()
    holding = threading.Event()
    real_locked = ReviewLink.locked

    def locked(self):
        row = real_locked(self)
        if getattr(where, "role", "") == "comment":
            holding.set()
            _wait_for_a_blocked_backend()
        return row

    monkeypatch.setattr(ReviewLink, "locked", locked)
    errors = []

    def run(role):
        where.role = role
        try:
            if role == "decide":
                approvals.decide(draft_id=client_draft.pk, decision="approve", by_link=link)
            else:
                comments.comment_add(draft=client_draft, body="Looks good", by_link=link)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            db.close()

    commenting = threading.Thread(target=run, args=("comment",))
    commenting.start()
    assert holding.wait(timeout=20)
    deciding = threading.Thread(target=run, args=("decide",))
    deciding.start()
    for thread in (commenting, deciding):
        thread.join(timeout=30)
    assert errors == [], errors
    assert Comment.objects.count() == 1
    assert Draft.objects.get(pk=client_draft.pk).review_state == ReviewState.APPROVED


def _wait_for_a_blocked_backend() -> None:
    """Poll until another connection waits on a row lock (the decision, blocked by ours)."""
    deadline = timezone.now() + timedelta(seconds=15)
    with db.cursor() as cursor:
        while timezone.now() < deadline:
            # Statistics views are a snapshot per transaction: a fresh one each time.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
    raise AssertionError("the decision never waited on the comment's locks")


def test_a_link_decision_that_cannot_send_is_a_sentence(login, bob, client_draft, workspace):
    """The client's approval when the accounts went away meanwhile: the sentence on the page,
    the approval rolled back, the post still waiting for review."""
    client = linked(login, bob, client_draft)
    Platform.objects.filter(workspace=workspace).update(connected=False)
    page = link_decide(client, client_draft)
    assert page.status_code == 200 and b"is-danger" in page.content
    client_draft.refresh_from_db()
    assert client_draft.review_state == ReviewState.IN_REVIEW and client_draft.decided_at is None
    assert Post.objects.count() == 0
