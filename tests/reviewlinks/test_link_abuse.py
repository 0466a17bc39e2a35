"""A link holder's abuse of the review page (issue 18's review): a second request for changes
with a new comment is not swallowed as a double click, and a comment's markup is shown as text."""

from __future__ import annotations

import pytest
from django.urls import reverse

from posting.models import Comment, Draft
from tests.posting.sandbox_posts import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.reviewlinks import test_link_decisions
from tests.reviewlinks.test_link_decisions import decide

pytestmark = pytest.mark.django_db(transaction=True)

waiting = test_link_decisions.waiting  # the fixture: bob's draft waiting for the client


def test_a_second_request_for_changes_with_new_words_is_not_lost(waiting, calls, no_queue):
    draft, client = waiting
    decide(client, draft, "changes", "Shorter caption, please")
    again = decide(client, draft, "changes", "And a brighter thumbnail")
    # Not "the team was told" while the new words went nowhere: the page says it was not taken.
    assert b"the team was told" not in again.content
    assert b"Changes were requested already" in again.content
    assert Draft.objects.get(pk=draft.pk).decision_comment == "Shorter caption, please"
    # The same words again (a double click) are still the first request, quietly.
    same = decide(client, draft, "changes", "Shorter caption, please")
    assert b"the team was told" in same.content


def test_a_comment_with_markup_is_shown_as_text(waiting):
    draft, client = waiting
    client.post(
        reverse("review:comment", args=[draft.code]),
        {"body": '<script>alert(1)</script><img src=x onerror="alert(2)">'},
    )
    page = client.get(reverse("review:page")).content
    assert b"<script>alert(1)" not in page and b"<img src=x" not in page
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_edit_after_the_page_was_opened_is_not_approved_unseen(waiting, bob, calls, no_queue):
    from posting.sending import drafts

    draft, client = waiting
    page = client.get(reverse("review:page")).content.decode()
    seen = Draft.objects.get(pk=draft.pk).review_seen
    assert f'name="seen" value="{seen}"' in page
    fields = drafts.DraftFields(
        platforms=list(draft.target_platforms.all()),
        description="Words the client never saw",
        captions={},
        cover_second=draft.cover_second,
        scheduled_at=draft.scheduled_at,
    )
    drafts.draft_update(draft=draft, actor=bob, fields=fields)
    late = client.post(
        reverse("review:decide", args=[draft.code]),
        {"decision": "approve", "seen": seen},
        follow=True,
    )
    assert b"edited after you opened it" in late.content
    assert Draft.objects.get(pk=draft.pk).review_state == "in_review" and calls == []
    fresh = Draft.objects.get(pk=draft.pk).review_seen
    assert fresh != seen
    done = client.post(
        reverse("review:decide", args=[draft.code]),
        {"decision": "approve", "seen": fresh},
        follow=True,
    )
    assert b"you approved this post" in done.content
    assert Draft.objects.get(pk=draft.pk).sent_post_id is not None


def test_comments_through_one_link_are_limited(settings, waiting):
    settings.REVIEW_LINK_POSTS_PER_HOUR = 3
    draft, client = waiting
    url = reverse("review:comment", args=[draft.code])
    for n in range(3):
        assert b"was sent to the team" in client.post(url, {"body": f"n{n}"}, follow=True).content
    refused = client.post(url, {"body": "one too many"}, follow=True)
    assert refused.status_code == 200 and b"Too many comments" in refused.content
    assert Comment.objects.filter(draft=draft).count() == 3
