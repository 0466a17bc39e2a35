"""A link is for its review (issue 18's attack review): once its holder decided and none of its
drafts waits for the client any more, the link (token URL or session page) is a 410 that says
what was decided and shows nothing of the post; while the team makes the changes asked for, it
says so (no buttons), and the edited post back at the client's stage opens through the same link,
its holder emailed. Link holders read no other holder's address, and cannot @mention members.
Links are only for posts waiting at the client's stage."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from accounts.models import Workspace
from posting.approvals import services as approvals
from posting.models import Alert, Comment, Draft, ReviewLink
from posting.reviewlinks import links
from posting.sending.errors import PostActionError
from tests.posting.sandbox_posts import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import save_draft
from tests.reviewlinks.test_link_decisions import decide
from tests.reviewlinks.test_review_links import open_link, send_link, token_from_mail

pytestmark = pytest.mark.django_db(transaction=True)


def today() -> str:
    return date_format(timezone.localtime(timezone.now()), "j M Y")


def assert_nothing_of(draft, html: bytes) -> None:
    assert draft.description.encode() not in html
    assert b"<video" not in html and b'data-testid="review-caption"' not in html
    assert b'data-testid="review-approve"' not in html


def test_an_approved_link_is_finished_and_says_what_was_decided(waiting, no_queue):
    draft, client = waiting
    decide(client, draft, "approve")
    page = client.get(reverse("review:page"))
    assert page.status_code == 410
    assert b"This review is finished" in page.content
    assert f"You approved this post on {today()}.".encode() in page.content
    assert_nothing_of(draft, page.content)
    # The video and comments are closed too.
    assert client.get(reverse("review:video", args=[draft.code])).status_code == 404
    client.post(reverse("review:comment", args=[draft.code]), {"body": "One more thing"})
    assert not Comment.objects.exists()


def test_the_token_opened_again_after_the_review_is_the_same_410(waiting, login, bob, no_queue):
    draft, client = waiting
    token = token_from_mail(mail.outbox[-1])
    decide(client, draft, "approve")
    again = open_link(token, Client())
    page = again.get(reverse("review:page"))
    assert page.status_code == 410 and b"You approved this post" in page.content
    assert_nothing_of(draft, page.content)


def test_the_finished_page_is_in_the_links_language(login, bob, workspace, waiting, no_queue):
    draft, _client = waiting
    send_link(login(bob), draft, address="klien@example.test", language="id")
    client = open_link(token_from_mail(mail.outbox[-1]))
    decide(client, draft, "approve")
    page = client.get(reverse("review:page"))
    assert page.status_code == 410 and "Tinjauan ini sudah selesai" in page.content.decode()


def test_changes_asked_then_edited_open_the_same_link_again(waiting, login, bob, no_queue):
    draft, client = waiting
    decide(client, draft, "changes", "Shorter, please")
    page = client.get(reverse("review:page"))
    assert page.status_code == 200
    html = page.content.decode()
    assert f"You asked for changes to this post on {today()}." in html
    assert "The team is making changes to it" in html and "you will get an email" in html
    assert_nothing_of(draft, page.content)
    assert client.get(reverse("review:video", args=[draft.code])).status_code == 404
    # A comment on the changes is still welcome.
    client.post(reverse("review:comment", args=[draft.code]), {"body": "Also the music"})
    assert Comment.objects.filter(body="Also the music").exists()

    before = len(mail.outbox)
    Draft.objects.filter(pk=draft.pk).update(description="Shorter")
    approvals.submit_for_review(draft=Draft.objects.get(pk=draft.pk), actor=bob)
    told = mail.outbox[before:]
    assert [m.to for m in told] == [["client@example.test"]]
    assert "ready for your review again" in told[0].subject and "/review/" not in told[0].body
    again = client.get(reverse("review:page"))
    assert again.status_code == 200 and b"Shorter" in again.content
    assert b'data-testid="review-approve"' in again.content


def test_review_turned_off_finishes_the_link(waiting, login, alice, workspace):
    draft, client = waiting
    approvals.workflow_set(workspace=workspace, actor=alice, workflow="none")
    page = client.get(reverse("review:page"))
    assert page.status_code == 410 and b"took it out of review" in page.content
    assert_nothing_of(draft, page.content)


def test_a_deleted_post_still_says_what_was_decided(waiting):
    draft, client = waiting
    decide(client, draft, "changes", "Different music")
    Draft.objects.filter(pk=draft.pk).delete()
    page = client.get(reverse("review:page"))
    assert page.status_code == 410
    assert b"You asked for changes to this post on" in page.content
    assert b"deleted" in page.content


def test_link_holders_do_not_see_each_others_addresses(waiting, login, alice, bob, workspace):
    draft, client = waiting
    send_link(login(bob), draft, address="other.client@example.test")
    other = open_link(token_from_mail(mail.outbox[-1]))
    other.post(reverse("review:comment", args=[draft.code]), {"body": "From the other one"})
    client.post(reverse("review:comment", args=[draft.code]), {"body": "My own note"})
    html = client.get(reverse("review:page")).content.decode()
    assert "From the other one" in html and "other.client@example.test" not in html
    assert "Client reviewer" in html and "You" in html
    # Members still see who wrote it.
    members = login(alice).get(
        reverse("posting:draft_review", kwargs={"code": workspace.code, "draft_code": draft.code})
    )
    assert b"other.client@example.test" in members.content


def test_a_link_holder_cannot_mention_members(waiting, alice, bob):
    draft, client = waiting
    client.post(reverse("review:comment", args=[draft.code]), {"body": "@alice @bob hi"})
    client.post(reverse("review:comment", args=[draft.code]), {"body": "@alice@example.test"})
    comment = Comment.objects.first()
    assert comment.body == "@alice @bob hi"
    assert not any(c.mentions.exists() for c in Comment.objects.all())
    assert not Alert.objects.filter(recipient=alice).exists()
    # The author is still told of each comment, once.
    assert Alert.objects.filter(recipient=bob, kind=Alert.Kind.COMMENTED).count() == 2
    # No list of members to mention, nor their addresses, on the holder's page.
    Comment.objects.filter(body__startswith="@alice@").delete()
    html = client.get(reverse("review:page")).content.decode()
    assert "alice@example.test" not in html and "bob@example.test" not in html
    assert "Mention" not in html


def test_a_link_is_only_for_posts_waiting_for_the_client(
    login, bob, workspace, waiting, video_file, rf
):
    draft, _client = waiting
    save_draft(login(bob), workspace, video_file(), description="Not yet submitted")
    plain = Draft.objects.latest("id")
    before = ReviewLink.objects.count()
    with pytest.raises(PostActionError, match="“Not yet submitted” is not"):
        links.review_link_create(
            actor=bob,
            workspace=workspace,
            drafts=[draft, plain],
            address="x@example.test",
            language="en",
            request=rf.get("/"),
        )
    # The form refuses it too, in words, and a single-draft link for it as well.
    response = send_link(login(bob), draft, drafts=[str(plain.code)])
    assert "“Not yet submitted” is not".encode() in response.content
    response = send_link(login(bob), plain)
    assert "“Not yet submitted” is not".encode() in response.content
    assert ReviewLink.objects.count() == before
    # The form offers only drafts waiting for the client.
    members = login(bob).get(
        reverse("posting:draft_review", kwargs={"code": workspace.code, "draft_code": draft.code})
    )
    assert str(plain.code).encode() not in members.content


def test_a_batch_link_finishes_when_its_last_post_is_decided(
    login, bob, workspace, waiting, video_file, no_queue
):
    first, _client = waiting
    Workspace.objects.filter(pk=workspace.pk).update(approval_workflow="client")
    save_draft(login(bob), workspace, video_file(), description="Second post")
    second = approvals.submit_for_review(draft=Draft.objects.latest("id"), actor=bob)
    send_link(login(bob), first, address="batch@example.test", drafts=[str(second.code)])
    client = open_link(token_from_mail(mail.outbox[-1]))
    decide(client, first, "approve")
    page = client.get(reverse("review:page"))
    assert page.status_code == 200 and b"Second post" in page.content
    assert b"Post 1 of 2" in page.content and b"You approved this post" in page.content
    assert first.description.encode() not in page.content
    decide(client, second, "approve")
    done = client.get(reverse("review:page"))
    assert done.status_code == 410 and done.content.count(b'data-testid="review-verdict"') == 2
