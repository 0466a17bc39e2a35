"""Review links: sent by owners and editors (emailed, the token kept only as its hash, limited
per sender and per address), opened without an account (the token moves into the session and
out of the URL), showing only the drafts they are for; expired, withdrawn and altered links get
a page that says so, never a 500 and never another post's data; opening links is limited per
IP; the token reaches no log line."""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Workspace
from posting.models import Draft, ReviewLink
from posting.reviewlinks import links
from taisly_dash.logs import ReviewTokenFilter
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.reviewlinks.fixtures import *  # noqa: F403 (fixtures)
from tests.reviewlinks.fixtures import make_kept_draft

pytestmark = pytest.mark.django_db

LINK_IN_MAIL = re.compile(r"https?://[^\s]+/review/([A-Za-z0-9_-]+)/")


def review_url(draft) -> str:
    return reverse(
        "posting:draft_review", kwargs={"code": draft.workspace.code, "draft_code": draft.code}
    )


def send_url(draft) -> str:
    return reverse(
        "posting:review_link_send", kwargs={"code": draft.workspace.code, "draft_code": draft.code}
    )


def send_link(client, draft, address="client@example.test", language="en", **extra):
    return client.post(
        send_url(draft), {"address": address, "language": language, **extra}, follow=True
    )


def token_from_mail(message) -> str:
    match = LINK_IN_MAIL.search(message.body)
    assert match, message.body
    return match.group(1)


@pytest.fixture
def client_review(workspace, kept_draft):
    """``kept_draft`` waiting for the client's approval."""
    workspace.approval_workflow = "client"
    workspace.save(update_fields=["approval_workflow"])
    kept_draft.review_state, kept_draft.review_stage = "in_review", "client"
    kept_draft.save(update_fields=["review_state", "review_stage"])
    return kept_draft


@pytest.fixture
def sent(login, bob, client_review):
    """A link for ``client_review`` emailed by bob: (link, token)."""
    response = send_link(login(bob), client_review)
    assert response.status_code == 200
    token = token_from_mail(mail.outbox[-1])
    return ReviewLink.objects.get(), token


def open_link(token: str, client: Client | None = None) -> Client:
    client = client or Client()
    response = client.get(reverse("review:enter", args=[token]))
    assert response.status_code == 302 and response["Location"] == reverse("review:page")
    return client


def test_an_editor_emails_a_link_and_only_its_hash_is_kept(login, bob, client_review, sent):
    link, token = sent
    message = mail.outbox[-1]
    assert message.to == ["client@example.test"] and "Acme" in message.subject
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(list(ReviewLink.objects.values()))
    assert link.covers(client_review) and link.is_usable() and link.created_by == bob
    assert link.expires_at - link.created_at == timedelta(days=7)
    event = AuditEvent.objects.get(action=AuditEvent.Action.REVIEW_LINK_SENT)
    assert event.target == "client@example.test" and event.actor == bob
    # The members' page lists it, and never shows the token.
    page = login(bob).get(review_url(client_review))
    assert b"client@example.test" in page.content and token.encode() not in page.content


def test_the_link_email_is_in_the_reviewers_language(login, bob, client_review):
    send_link(login(bob), client_review, language="id")
    assert "Buka tautan" in mail.outbox[-1].body


def test_a_viewer_cannot_send_a_link(login, vera, client_review):
    response = login(vera).post(send_url(client_review), {"address": "x@example.test"})
    assert response.status_code == 403 and not ReviewLink.objects.exists() and not mail.outbox


def test_the_service_decides_authority_itself(vera, workspace, client_review, rf):
    from accounts.access import RoleRequired

    with pytest.raises(RoleRequired):
        links.review_link_create(
            actor=vera,
            workspace=workspace,
            drafts=[client_review],
            address="x@example.test",
            language="en",
            request=rf.get("/"),
        )
    assert not ReviewLink.objects.exists()


@pytest.mark.parametrize(
    ("address", "sentence"),
    [("", "Enter the email address"), ("not-an-address", "valid email"), ("a" * 300, "Enter")],
)
def test_a_bad_address_gets_a_sentence(login, bob, client_review, address, sentence):
    response = send_link(login(bob), client_review, address=address)
    assert response.status_code == 200 and sentence.encode() in response.content
    assert not ReviewLink.objects.exists()


def test_links_are_limited_per_address(login, bob, alice, client_review, settings):
    settings.REVIEW_LINKS_PER_ADDRESS_PER_HOUR = 2
    for _ in range(2):
        send_link(login(bob), client_review)
    response = send_link(login(alice), client_review)
    assert b"the most allowed" in response.content
    assert ReviewLink.objects.count() == 2 and len(mail.outbox) == 2


def test_links_are_limited_per_sender(login, bob, client_review, settings):
    settings.REVIEW_LINKS_PER_SENDER_PER_HOUR = 1
    send_link(login(bob), client_review, address="one@example.test")
    response = send_link(login(bob), client_review, address="two@example.test")
    assert b"You have sent 1 review links" in response.content
    assert ReviewLink.objects.count() == 1


def test_the_token_moves_into_the_session_and_out_of_the_url(sent, client_review):
    link, token = sent
    client = open_link(token)
    page = client.get(reverse("review:page"))
    assert page.status_code == 200
    html = page.content.decode()
    assert token not in html
    assert client_review.description in html
    assert "TikTok" in html and "Instagram" in html
    assert reverse("review:video", args=[client_review.code]) in html
    link.refresh_from_db()
    assert link.last_used_at is not None
    # The video plays and seeks for the link holder.
    part = client.get(reverse("review:video", args=[client_review.code]), HTTP_RANGE="bytes=0-9")
    assert part.status_code == 206 and part["Content-Range"].startswith("bytes 0-9/")


def test_a_link_shows_nothing_of_another_draft(sent, workspace, bob, video_file):
    _link, token = sent
    other = make_kept_draft(
        workspace, bob, video_file("review.mp4", seconds=3.0), description="Secret"
    )
    client = open_link(token)
    assert b"Secret" not in client.get(reverse("review:page")).content
    assert client.get(reverse("review:video", args=[other.code])).status_code == 404
    for name in ("review:decide", "review:comment"):
        response = client.post(reverse(name, args=[other.code]), {"decision": "approve"})
        assert response.status_code == 404


def test_a_link_holder_reaches_no_workspace_page(sent, workspace, client_review):
    _link, token = sent
    client = open_link(token)
    code = workspace.code
    for url in (
        reverse("accounts:workspace", kwargs={"code": code}),
        reverse("posting:draft", kwargs={"code": code, "draft_code": client_review.code}),
        reverse("posting:draft_video", kwargs={"code": code, "draft_code": client_review.code}),
        review_url(client_review),
        reverse("posting:drafts", kwargs={"code": code}),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


@pytest.mark.parametrize(
    ("spoil", "status", "words"),
    [
        ("expire", 410, "has expired"),
        ("revoke", 410, "was withdrawn"),
        ("alter", 404, "does not work"),
    ],
)
def test_a_dead_link_says_why_in_words(sent, spoil, status, words, client_review):
    link, token = sent
    if spoil == "expire":
        ReviewLink.objects.filter(pk=link.pk).update(expires_at=timezone.now())
    elif spoil == "revoke":
        ReviewLink.objects.filter(pk=link.pk).update(revoked_at=timezone.now())
    else:
        token = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    client = open_link(token)
    page = client.get(reverse("review:page"))
    assert page.status_code == status and words.encode() in page.content
    assert client_review.description.encode() not in page.content
    assert client.get(reverse("review:video", args=[client_review.code])).status_code == 404


def test_a_link_revoked_while_open_stops_at_the_next_request(login, bob, sent, client_review):
    link, token = sent
    client = open_link(token)
    assert client.get(reverse("review:page")).status_code == 200
    revoke = reverse(
        "posting:review_link_revoke",
        kwargs={
            "code": client_review.workspace.code,
            "draft_code": client_review.code,
            "link_code": link.code,
        },
    )
    assert login(bob).post(revoke).status_code == 302
    assert AuditEvent.objects.filter(action=AuditEvent.Action.REVIEW_LINK_REVOKED).count() == 1
    page = client.get(reverse("review:page"))
    assert page.status_code == 410 and b"was withdrawn" in page.content
    # Opening it again from the email: the same words.
    again = open_link(token, Client())
    assert again.get(reverse("review:page")).status_code == 410
    comment = client.post(reverse("review:comment", args=[client_review.code]), {"body": "hi"})
    assert comment.status_code == 410 and not client_review.comments.exists()


@pytest.mark.parametrize("token", ["x", "%00", "a" * 500, "é", "..", "AAAA%2F..%2F"])
def test_odd_tokens_get_the_page_not_a_500(token):
    client = Client()
    response = client.get(f"/review/{token}/")
    assert response.status_code in (302, 404)
    assert client.get(reverse("review:page")).status_code == 404


def test_opening_links_is_limited_per_ip(settings, sent):
    settings.REVIEW_LINK_OPENS_PER_MINUTE = 3
    _link, token = sent
    client = Client()
    for _ in range(3):
        open_link("wrong-" + token[:10], client)
    # The fourth, even with the right token, waits.
    open_link(token, client)
    page = client.get(reverse("review:page"))
    assert page.status_code == 429 and b"Wait a minute" in page.content


def test_the_token_reaches_no_log_line():
    record = logging.LogRecord(
        "django.request",
        logging.WARNING,
        __file__,
        1,
        "Not Found: %s",
        ("/review/s3cr3tT0k/x/",),
        None,
    )
    ReviewTokenFilter().filter(record)
    assert record.getMessage() == "Not Found: /review/[token]/x/"
    draft_code = "0b7d7c59-4c39-4f39-9a55-2f8f6a3b1a10"
    kept = logging.LogRecord(
        "x", logging.INFO, __file__, 1, f"GET /review/{draft_code}/video/", None, None
    )
    ReviewTokenFilter().filter(kept)
    assert draft_code in kept.getMessage()


def test_the_link_page_runs_a_fixed_number_of_queries(
    sent, workspace, bob, video_file, django_assert_num_queries
):
    link, token = sent
    client = open_link(token)
    client.get(reverse("review:page"))
    # Five, and the workspace's active repost rules (none here: with some, their targets too).
    with django_assert_num_queries(6):
        assert client.get(reverse("review:page")).status_code == 200
    for n in range(3):
        link.drafts.add(
            make_kept_draft(
                workspace,
                bob,
                video_file("review.mp4", seconds=3.0),
                description=f"More {n}",
                review_state="in_review",
                review_stage="client",
            )
        )
    with django_assert_num_queries(6):
        assert b"More 2" in client.get(reverse("review:page")).content


def test_the_page_is_in_the_links_language_and_the_footer_switches_it(login, bob, client_review):
    send_link(login(bob), client_review, language="id")
    client = open_link(token_from_mail(mail.outbox[-1]))
    page = client.get(reverse("review:page")).content.decode()
    assert "untuk Anda tinjau" in page and "Setujui" in page
    client.post(reverse("accounts:language"), {"language": "en", "next": "/review/"})
    assert "for your review" in client.get(reverse("review:page")).content.decode()


def test_the_members_review_page_runs_a_fixed_number_of_queries(
    login, alice, bob, client_review, sent, django_assert_num_queries
):
    from posting.reviewlinks.comments import comment_add

    client = login(bob)
    url = review_url(client_review)
    comment_add(draft=client_review, body="First", by_user=alice)
    client.get(url)

    def count_queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    few = count_queries()
    for n in range(3):
        comment_add(draft=client_review, body=f"Note {n} for @alice", by_user=bob)
    send_link(login(alice), client_review, address="second@example.test")
    with django_assert_num_queries(few):
        page = client.get(url)
    assert b"Note 2 for @alice" in page.content and b"second@example.test" in page.content


def test_the_planned_time_is_in_the_workspaces_time_zone(login, bob, workspace, client_review):
    """The workspace has a time zone of its own (its posting slots'): the client reads the time
    as the team plans it, whatever the sender's own zone."""
    Workspace.objects.filter(pk=workspace.pk).update(time_zone="Asia/Jakarta")
    bob.timezone = "America/New_York"
    bob.save(update_fields=["timezone"])
    when = datetime(2030, 1, 15, 2, 0, tzinfo=UTC)  # 09:00 in Jakarta, 21:00 the day before in NY
    Draft.objects.filter(pk=client_review.pk).update(scheduled_at=when)
    response = send_link(login(bob), client_review)
    assert response.status_code == 200
    html = open_link(token_from_mail(mail.outbox[-1])).get(reverse("review:page")).content
    html = html.decode()
    assert "Tuesday 15 January 2030, 09:00" in html and "Asia/Jakarta" in html
    assert "America/New_York" not in html


def test_the_finished_page_runs_a_fixed_number_of_queries(
    sent, workspace, bob, video_file, client_review, django_assert_num_queries
):
    """A link whose drafts are all approved is a 410 saying so, in as many queries for one
    draft as for several (and with nothing of them)."""
    link, token = sent
    Draft.objects.filter(pk=client_review.pk).update(
        review_state="approved", decided_at=timezone.now()
    )
    client = open_link(token)
    client.get(reverse("review:page"))
    with django_assert_num_queries(5):
        assert client.get(reverse("review:page")).status_code == 410
    for n in range(3):
        link.drafts.add(
            make_kept_draft(
                workspace,
                bob,
                video_file("review.mp4", seconds=3.0),
                description=f"Done {n}",
                review_state="approved",
                decided_at=timezone.now(),
            )
        )
    with django_assert_num_queries(5):
        page = client.get(reverse("review:page"))
    assert page.status_code == 410 and b"Done 2" not in page.content
    assert page.content.count(b"It was approved on") == 4
