"""What an attack review of approvals (issue 18) found, each kept as a test that failed before
its fix: what reviewers approved vs what goes out (the video by its bytes, the accounts by id),
decisions tied to the round and stage shown, four eyes over every writer of a round, a
decision that cannot send, and the team's words kept from the client's side.

Personas (tests/personas.py): alice owns ``workspace``, bob edits (and writes the posts here),
dora edits too, vera views."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from posting.approvals import services as approvals
from posting.models import Alert, Draft, DraftVersion, Platform, Post, ReviewState
from posting.sending import drafts
from tests.posting import test_approvals as base
from tests.posting.sandbox_posts import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_data

pytestmark = pytest.mark.django_db(transaction=True)

# The fixtures: bob's draft submitted for review (``in_review(workflow, later=...)``), and
# dora, a second editor.
in_review, dora = base.in_review, base.dora


def draft_url(draft) -> str:
    return reverse("posting:draft", kwargs={"code": draft.workspace.code, "draft_code": draft.code})


def member_decide(client, draft, decision, comment="", **extra):
    url = reverse(
        "posting:draft_decide", kwargs={"code": draft.workspace.code, "draft_code": draft.code}
    )
    return client.post(url, {"decision": decision, "comment": comment, **extra})


def flashed(response) -> list[str]:
    return re.findall(r"is-danger[^>]*>\s*([^<]+)", response.content.decode())


def _held(in_review, alice) -> Draft:
    """Approved after its planned time: held, the approval standing for a new time."""
    draft = in_review("internal", later=timedelta(hours=2))
    Draft.objects.filter(pk=draft.pk).update(scheduled_at=timezone.now() - timedelta(minutes=5))
    assert approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice).state == "held"
    draft.refresh_from_db()
    return draft


# --- what reviewers approved is what goes out --------------------------------------------------


def test_a_swapped_video_of_the_same_name_and_size_is_reviewed_again(
    in_review, login, alice, bob, workspace, video_file, tmp_path
):
    """Another clip under the approved one's file name, padded to its size: once only the name
    and size were compared, and the held post kept its approval for a video nobody saw."""
    draft = _held(in_review, alice)
    original = video_file()
    assert draft.video_sha256 == hashlib.sha256(original.read_bytes()).hexdigest()
    other = video_file("tiny.mp4", seconds=3.5, width=90, height=160).read_bytes()
    size = original.stat().st_size
    assert len(other) < size and other != original.read_bytes()
    swap = tmp_path / "swap" / original.name
    swap.parent.mkdir()
    swap.write_bytes(other + b"\0" * (size - len(other)))
    when = timezone.localtime() + timedelta(days=1)
    payload = compose_data(
        workspace,
        description="For review",
        when="later",
        scheduled_at=when.strftime("%Y-%m-%dT%H:%M"),
    )
    payload["cover_second"] = str(draft.cover_second)
    with open(swap, "rb") as fh:
        response = login(bob).post(draft_url(draft), {**payload, "video": fh})
    assert response.status_code == 302, flashed(response)
    draft.refresh_from_db()
    assert (draft.video_name, draft.video_size) == (original.name, size)
    # Taken as the upload streamed in, and kept with the new version.
    assert draft.video_sha256 == hashlib.sha256(swap.read_bytes()).hexdigest()
    assert draft.review_state == ReviewState.IN_REVIEW, "another video, still approved (held)"
    assert draft.versions.order_by("-number").first().video_sha256 == draft.video_sha256


def test_a_held_post_moved_to_another_account_of_the_same_network_is_reviewed_again(
    in_review, alice, bob, workspace
):
    """Moved from the approved TikTok account to another TikTok account: once only network
    names were compared, so it stayed approved for an account nobody approved."""
    draft = _held(in_review, alice)
    approved_tiktok = draft.target_platforms.get(network="TikTok")
    other = Platform.objects.create(
        workspace=workspace, taisly_id="p-other-tiktok", network="TikTok", connected=True
    )
    platforms = [p for p in draft.target_platforms.all() if p.pk != approved_tiktok.pk]
    fields = drafts.DraftFields(
        platforms=[*platforms, other],
        description=draft.description,
        captions=draft.captions,
        cover_second=draft.cover_second,
        scheduled_at=timezone.now() + timedelta(days=1),
    )
    draft = drafts.draft_update(draft=draft, actor=bob, fields=fields)
    assert draft.review_state == ReviewState.IN_REVIEW, "another account, still approved"
    version = DraftVersion.objects.filter(draft=draft).order_by("-number").first()
    assert other.pk in version.platform_ids and approved_tiktok.pk not in version.platform_ids
    assert "TikTok" in version.networks  # reviewers still read network names


# --- decisions: of this round, at this stage ---------------------------------------------------


def test_a_client_reviewer_who_asked_for_changes_can_approve_the_resubmission(
    in_review, login, bob, vera, workspace
):
    """vera (client reviewer) asks for changes, bob submits again: her approval was taken for
    a repeat of an internal approval ("Approved internally...") and did nothing, for ever."""
    Membership.objects.filter(user=vera, workspace=workspace).update(can_approve=True)
    draft = in_review("client")
    assert member_decide(login(vera), draft, "changes", "Shorter, please").status_code == 302
    draft.refresh_from_db()
    assert draft.review_state == ReviewState.CHANGES_REQUESTED
    approvals.submit_for_review(draft=draft, actor=bob)
    outcome = approvals.decide(draft_id=draft.pk, decision="approve", by_user=vera)
    draft.refresh_from_db()
    assert not outcome.repeated, "vera's approval of the new version was swallowed as a repeat"
    assert draft.review_state == ReviewState.APPROVED and Post.objects.count() == 1


def test_a_double_click_on_an_internal_approval_is_still_a_repeat(
    in_review, alice, dora, workspace
):
    """The fix above keeps what the repeat was for: the same member's second click, just after
    their internal approval, does nothing more."""
    Membership.objects.filter(user=dora, workspace=workspace).update(can_approve=True)
    draft = in_review("internal_client")
    seen = draft.review_seen
    approvals.decide(draft_id=draft.pk, decision="approve", by_user=dora, seen=seen)
    again = approvals.decide(draft_id=draft.pk, decision="approve", by_user=dora, seen=seen)
    assert again.repeated and Post.objects.count() == 0


def test_an_internal_approval_click_is_not_taken_as_the_clients(
    in_review, login, alice, dora, workspace
):
    """alice (owner, also a client reviewer) opens the page at the internal stage; dora
    approves first; alice's click, with the round she saw, was applied at the client stage and
    sent the post without the client's review. The form now sends the stage it showed."""
    Membership.objects.filter(user=alice, workspace=workspace).update(can_approve=True)
    draft = in_review("internal_client")
    page = login(alice).get(draft_url(draft))
    seen = draft.review_seen
    assert f'name="seen" value="{seen}"' in page.content.decode()
    approvals.decide(draft_id=draft.pk, decision="approve", by_user=dora, seen=seen)
    response = login(alice).post(
        reverse(
            "posting:draft_decide",
            kwargs={"code": draft.workspace.code, "draft_code": draft.code},
        ),
        {"decision": "approve", "comment": "", "seen": seen},
        follow=True,
    )
    assert "another review stage" in response.content.decode()
    draft.refresh_from_db()
    assert draft.review_state == ReviewState.IN_REVIEW and draft.review_stage == "client"
    assert Post.objects.count() == 0
    # On the page as it is now (the client stage), her approval counts.
    approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice, seen=draft.review_seen)
    assert Post.objects.count() == 1


def test_a_decision_that_cannot_send_is_a_sentence_not_a_500(in_review, login, alice, workspace):
    """The last approval when the accounts went away meanwhile: send_locked's PostActionError
    was a 500. Now the approval is rolled back and the post still waits for review."""
    draft = in_review("internal")
    Platform.objects.filter(workspace=workspace).update(connected=False)
    client = login(alice)
    client.raise_request_exception = False
    response = member_decide(client, draft, "approve", seen=draft.review_seen)
    assert response.status_code == 302, response.status_code
    assert flashed(client.get(response["Location"]))
    draft.refresh_from_db()
    assert draft.review_state == ReviewState.IN_REVIEW and draft.decided_at is None
    assert Post.objects.count() == 0


def test_who_rewrote_a_post_while_changes_were_asked_does_not_approve_it(
    in_review, alice, bob, dora
):
    """dora rewrites bob's post while changes are requested (no version was recorded), bob
    resubmits it, and dora approved her own words. Every writer of it is refused now."""
    draft = in_review("internal")
    approvals.decide(draft_id=draft.pk, decision="changes", comment="Redo", by_user=alice)
    draft.refresh_from_db()
    fields = drafts.DraftFields(
        platforms=list(draft.target_platforms.all()),
        description="Dora's own words",
        captions={},
        cover_second=draft.cover_second,
        scheduled_at=None,
    )
    drafts.draft_update(draft=draft, actor=dora, fields=fields)
    assert Draft.objects.get(pk=draft.pk).review_state == ReviewState.CHANGES_REQUESTED
    approvals.submit_for_review(draft=Draft.objects.get(pk=draft.pk), actor=bob)
    with pytest.raises(approvals.NotAReviewer, match="You wrote"):
        approvals.decide(draft_id=draft.pk, decision="approve", by_user=dora)
    outcome = approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice)
    assert outcome.state == ReviewState.APPROVED


# --- the team's words stay the team's ----------------------------------------------------------


def test_an_internal_comment_does_not_reach_a_viewer_by_mention(in_review, login, bob, vera, alice):
    """Mentioning @vera (a viewer, the client's side) in an internal comment sent her its
    words as an alert and an email; the team's mentions still tell them."""
    draft = in_review("internal")
    url = reverse(
        "posting:draft_comment", kwargs={"code": draft.workspace.code, "draft_code": draft.code}
    )
    response = login(bob).post(
        url, {"body": "@vera @alice our margin here is 80%", "internal": "1"}
    )
    assert response.status_code == 302
    comment = draft.comments.get()
    assert comment.internal and list(comment.mentions.all()) == [alice]
    assert not Alert.objects.filter(recipient=vera, message__contains="margin").exists()
    assert Alert.objects.filter(recipient=alice, message__contains="margin").exists()


def test_a_viewer_does_not_read_the_internal_reviewers_words(in_review, login, alice, vera):
    """alice asks for changes at the internal stage with words for the team; vera, a viewer,
    read them on the draft page. The team still does."""
    draft = in_review("internal_client")
    approvals.decide(
        draft_id=draft.pk,
        decision="changes",
        comment="TEAM ONLY: the client will hate this cut",
        by_user=alice,
    )
    page = login(vera).get(draft_url(draft))
    assert page.status_code == 200 and b'data-testid="review-decision"' in page.content
    assert b"TEAM ONLY" not in page.content
    assert b"TEAM ONLY" in login(alice).get(draft_url(draft)).content
