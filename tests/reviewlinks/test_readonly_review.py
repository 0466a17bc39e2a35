"""What a client reads (issue 18's new-user review): a viewer who reviews opens a draft and reads
it, with no greyed-out form; the review link's page and that read-only page say which active
repost rules post it elsewhere too (only those its accounts trigger); both pages run a fixed
number of queries."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Membership
from posting.models import Draft, DraftVersion, Platform, RepostRule
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.reviewlinks import test_review_links
from tests.reviewlinks.fixtures import *  # noqa: F403 (fixtures)
from tests.reviewlinks.fixtures import make_kept_draft
from tests.reviewlinks.test_review_links import open_link

pytestmark = pytest.mark.django_db

# The review links' fixtures: a draft waiting for the client, and a link sent for it.
client_review = test_review_links.client_review
sent = test_review_links.sent

TIKTOK_RULE = "YouTube will also get this, by the rule TikTok → YouTube."


def add_rule(workspace, source: str, target: str, *, taisly_id: str, paused=False) -> None:
    source_platform, _ = Platform.objects.get_or_create(
        workspace=workspace, taisly_id=f"p-{source}", defaults={"network": source}
    )
    target_platform, _ = Platform.objects.get_or_create(
        workspace=workspace, taisly_id=f"p-{target}", defaults={"network": target}
    )
    rule = RepostRule.objects.create(
        workspace=workspace, taisly_id=taisly_id, from_platform=source_platform, paused=paused
    )
    rule.to_platforms.set([target_platform])


def draft_url(draft) -> str:
    return reverse("posting:draft", kwargs={"code": draft.workspace.code, "draft_code": draft.code})


@pytest.fixture
def reviewer(vera, workspace):
    """vera, a viewer with the reviewer right: the client's side of the team."""
    Membership.objects.filter(user=vera, workspace=workspace).update(can_approve=True)
    return vera


def test_a_viewer_reads_the_draft_without_a_form(login, reviewer, client_review, workspace):
    Draft.objects.filter(pk=client_review.pk).update(captions={"Instagram": "Only on Insta"})
    add_rule(workspace, "TikTok", "YouTube", taisly_id="r1")
    add_rule(workspace, "X", "Facebook", taisly_id="r2")  # X is not chosen: not said
    add_rule(workspace, "Instagram", "Facebook", taisly_id="r3", paused=True)  # paused: not said
    html = login(reviewer).get(draft_url(client_review)).content.decode()
    assert 'data-testid="draft-preview"' in html and 'data-testid="draft-player"' in html
    assert 'id="compose-form"' not in html and "disabled" not in html
    assert 'name="video"' not in html and 'data-testid="next-slot"' not in html
    assert "Editing it now sends it back" not in html
    # Its captions per network, its accounts, when; and the decision, for who may decide.
    assert "Only on Insta" in html and "For the client" in html
    assert 'data-testid="preview-accounts"' in html and "Instagram" in html
    assert "As soon as it is approved" in html
    assert 'data-testid="review-approve"' in html
    assert html.count('data-testid="repost-note"') == 1 and TIKTOK_RULE in html


def test_a_writer_still_gets_the_form(login, bob, client_review):
    html = login(bob).get(draft_url(client_review)).content.decode()
    assert 'id="compose-form"' in html and 'data-testid="draft-preview"' not in html


def test_the_read_only_page_runs_a_fixed_number_of_queries(
    login, reviewer, bob, client_review, workspace, django_assert_num_queries
):
    add_rule(workspace, "TikTok", "YouTube", taisly_id="r1")
    client = login(reviewer)
    client.get(draft_url(client_review))  # warm: the session's first read
    with django_assert_num_queries(READ_ONLY_QUERIES):
        assert client.get(draft_url(client_review)).status_code == 200
    for n in range(3):
        add_rule(workspace, "Instagram", f"Net{n}", taisly_id=f"more{n}")
        DraftVersion.record(client_review, bob, list(client_review.target_platforms.all()))
    with django_assert_num_queries(READ_ONLY_QUERIES):
        html = client.get(draft_url(client_review)).content.decode()
    assert html.count('data-testid="repost-note"') == 4


#: The draft page's thirteen (tests/posting/test_watchers.py, without repost rules) and, with
#: active rules, one for their target platforms: the same for a viewer, whatever the rows.
READ_ONLY_QUERIES = 14


def test_the_link_page_says_which_rules_post_it_elsewhere(
    sent, workspace, bob, video_file, django_assert_num_queries
):
    link, token = sent
    add_rule(workspace, "TikTok", "YouTube", taisly_id="r1")
    add_rule(workspace, "X", "Facebook", taisly_id="r2")
    client = open_link(token)
    client.get(reverse("review:page"))
    # The link page's five queries, and the active rules with their target platforms.
    with django_assert_num_queries(7):
        html = client.get(reverse("review:page")).content.decode()
    assert html.count('data-testid="repost-note"') == 1 and TIKTOK_RULE in html
    for n in range(3):
        add_rule(workspace, "Instagram", f"Net{n}", taisly_id=f"more{n}")
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
    with django_assert_num_queries(7):
        html = client.get(reverse("review:page")).content.decode()
    assert html.count('data-testid="repost-note"') == 4 * 4
