"""Watchers of a draft in review (issue 18): who is added on their own, who hears of each
decision and comment (in the app, by email per their preference, never the person who acted)
and that the workspace's webhooks get each event once whatever the number of people told;
reviewers told when a post waits for them, at the stage it waits at; "Watch" / "Stop watching"
on the draft page for members only, decided in the service."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import Membership, Workspace
from posting.alerts import watchers
from posting.alerts.emails import alerts_digest, email_preference_set
from posting.alerts.webhooks.endpoints import endpoint_create
from posting.approvals import services as approvals
from posting.models import (
    Alert,
    AlertPreference,
    Draft,
    DraftWatch,
    ReviewStage,
    WebhookDelivery,
)
from posting.reviewlinks.comments import comment_add
from posting.sending import drafts
from tests.posting import test_approvals
from tests.posting.sandbox_posts import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.webhook_receiver import *  # noqa: F403 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)

# The approvals' fixtures: bob's draft in review (``in_review``), and dora, a second editor.
in_review = test_approvals.in_review
dora = test_approvals.dora

Kind = Alert.Kind


def told(kind) -> list[int]:
    """The recipients of the ``kind`` alerts, in the order made."""
    return list(
        Alert.objects.filter(kind=kind).order_by("id").values_list("recipient_id", flat=True)
    )


def watching(draft) -> set[int]:
    return set(
        DraftWatch.objects.filter(draft=draft, watching=True).values_list("user_id", flat=True)
    )


def draft_url(draft, name="posting:draft") -> str:
    return reverse(name, kwargs={"code": draft.workspace.code, "draft_code": draft.code})


def test_watchers_are_added_on_their_own(in_review, alice, bob, dora, vera):
    draft = in_review("internal_client")
    assert watching(draft) == {bob.pk}  # its author, who submitted it
    comment_add(draft=draft, body="Nice, @vera have a look", by_user=dora)
    assert watching(draft) == {bob.pk, dora.pk, vera.pk}  # who commented, who was mentioned
    approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice)
    assert watching(draft) == {bob.pk, dora.pk, vera.pk, alice.pk}  # who decided


def test_a_viewer_mentioned_in_an_internal_comment_is_neither_told_nor_added(
    in_review, alice, bob, vera
):
    draft = in_review("internal")
    comment_add(
        draft=draft, body="Internal: @vera must not read this", internal=True, by_user=alice
    )
    assert vera.pk not in watching(draft)
    assert told(Kind.COMMENTED) == [bob.pk]
    # A viewer who watches does not hear of internal comments either.
    watchers.watch_set(draft=draft, actor=vera, watching=True)
    comment_add(draft=draft, body="Internal again", internal=True, by_user=alice)
    comment_add(draft=draft, body="For everyone", by_user=alice)
    assert told(Kind.COMMENTED) == [bob.pk, bob.pk, bob.pk, vera.pk]


def test_a_decision_tells_each_watcher_once_and_never_the_actor(
    in_review, alice, bob, dora, vera, workspace, receiver
):
    endpoint_create(workspace=workspace, actor=alice, url=receiver.url("/json"), format="json")
    draft = in_review("internal")
    watchers.watch_set(draft=draft, actor=dora, watching=True)
    watchers.watch_set(draft=draft, actor=vera, watching=True)
    watchers.watch_set(draft=draft, actor=alice, watching=True)  # she acts: not told
    receiver.received.clear()
    approvals.decide(draft_id=draft.pk, decision="changes", comment="Shorter", by_user=alice)
    assert sorted(told(Kind.CHANGES_REQUESTED)) == sorted([bob.pk, dora.pk, vera.pk])
    # One event, one delivery, one request: not one per person told.
    events = [r.json()["event"] for r in receiver.received if r.path == "/json"]
    assert events == ["post.changes_requested"]
    assert WebhookDelivery.objects.filter(event="post.changes_requested").count() == 1
    # A comment likewise: three watchers told, one webhook.
    receiver.received.clear()
    comment_add(draft=draft, body="Agreed, @bob shorter please", by_user=dora)
    assert sorted(told(Kind.COMMENTED)) == sorted([bob.pk, vera.pk, alice.pk])
    assert [r.json()["event"] for r in receiver.received] == ["post.commented"]
    assert WebhookDelivery.objects.filter(event="post.commented").count() == 1


def test_an_event_told_to_nobody_still_reaches_the_webhook_once(
    in_review, alice, bob, workspace, receiver
):
    endpoint_create(workspace=workspace, actor=alice, url=receiver.url("/json"), format="json")
    draft = in_review("internal")
    receiver.received.clear()
    comment_add(draft=draft, body="A note to myself", by_user=bob)  # bob alone watches
    assert told(Kind.COMMENTED) == []
    [body] = [r.json() for r in receiver.received]
    assert body["event"] == "post.commented" and body["draft"]["code"] == str(draft.code)
    assert body["message"] == "A note to myself"


def test_stop_watching_stops_notifications(in_review, alice, bob, dora):
    draft = in_review("internal")
    watchers.watch_set(draft=draft, actor=dora, watching=True)
    comment_add(draft=draft, body="First", by_user=alice)
    assert told(Kind.COMMENTED) == [bob.pk, dora.pk]
    watchers.watch_set(draft=draft, actor=dora, watching=False)
    watchers.watch_set(draft=draft, actor=bob, watching=False)
    comment_add(draft=draft, body="Second", by_user=alice)
    # An automatic add (she comments) does not undo her "Stop watching".
    comment_add(draft=draft, body="Third, from dora", by_user=dora)
    assert dora.pk not in watching(draft) and bob.pk not in watching(draft)
    # "Second" told nobody (alice wrote it); "Third" alice alone, who watches since "First".
    assert told(Kind.COMMENTED) == [bob.pk, dora.pk, alice.pk]
    # A mention is addressed to her: she hears of that comment, without watching again.
    comment_add(draft=draft, body="@dora what do you think?", by_user=alice)
    assert told(Kind.COMMENTED)[-1] == dora.pk and dora.pk not in watching(draft)
    # The author still hears of what asks them to act, watching or not.
    approvals.decide(draft_id=draft.pk, decision="changes", comment="Fix it", by_user=alice)
    assert told(Kind.CHANGES_REQUESTED) == [bob.pk]
    # Watch again: heard again.
    watchers.watch_set(draft=draft, actor=dora, watching=True)
    comment_add(draft=draft, body="Fourth", by_user=alice)
    assert told(Kind.COMMENTED)[-1:] == [dora.pk]


def test_reviewers_of_the_stage_are_told_once_on_submit_and_at_the_client_stage(
    in_review, workspace, alice, bob, dora, vera
):
    Membership.objects.filter(user=vera).update(can_approve=True)
    client_reviewer = vera
    draft = in_review("internal_client")
    # The internal stage's reviewers: owners and editors but its author; not the client's.
    assert sorted(told(Kind.REVIEW_REQUESTED)) == sorted([alice.pk, dora.pk])
    alert = Alert.objects.filter(kind=Kind.REVIEW_REQUESTED).first()
    assert alert.draft_id == draft.pk and alert.get_kind_display() == "Waiting for your review"
    # Submitting again while in review changes nothing and tells nobody again.
    approvals.submit_for_review(draft=draft, actor=bob)
    assert len(told(Kind.REVIEW_REQUESTED)) == 2
    # vera watches; alice's internal approval moves it to the client: vera, its one client
    # reviewer, gets one alert (the request, not also "approved"); bob hears it was approved.
    watchers.watch_set(draft=draft, actor=vera, watching=True)
    Alert.objects.all().delete()
    approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice)
    draft.refresh_from_db()
    assert draft.review_stage == ReviewStage.CLIENT
    assert told(Kind.REVIEW_REQUESTED) == [client_reviewer.pk]
    assert told(Kind.APPROVED) == [bob.pk]


def test_a_resubmission_after_changes_and_an_edit_in_review_tell_the_reviewers_again(
    in_review, alice, bob, dora
):
    draft = in_review("internal")
    approvals.decide(draft_id=draft.pk, decision="changes", comment="Shorter", by_user=alice)
    Alert.objects.all().delete()
    draft.refresh_from_db()
    approvals.submit_for_review(draft=draft, actor=bob)
    assert sorted(told(Kind.REVIEW_REQUESTED)) == sorted([alice.pk, dora.pk])
    # dora rewrites it in review: it starts again, and she (who wrote this version) is no
    # reviewer of it; alice is told; dora now watches it.
    Alert.objects.all().delete()
    draft.refresh_from_db()
    fields = drafts.DraftFields(
        platforms=list(draft.target_platforms.all()),
        description="Dora's words",
        captions={},
        cover_second=draft.cover_second,
        scheduled_at=None,
    )
    drafts.draft_update(draft=draft, actor=dora, fields=fields)
    assert told(Kind.REVIEW_REQUESTED) == [alice.pk]
    assert dora.pk in watching(draft)


def test_emails_follow_each_persons_preference_one_email_each(
    in_review, workspace, alice, bob, dora, vera
):
    Membership.objects.filter(user=vera).update(can_approve=True)
    email_preference_set(workspace=workspace, actor=dora, email=AlertPreference.Email.OFF)
    email_preference_set(workspace=workspace, actor=vera, email=AlertPreference.Email.IMMEDIATELY)
    mail.outbox.clear()
    draft = in_review("internal_client")
    # alice (owner: immediately by default) is emailed once; dora chose none.
    assert [m.to for m in mail.outbox] == [[alice.email]]
    assert "Waiting for your review" in mail.outbox[0].body
    mail.outbox.clear()
    # bob hears of decisions in the hourly digest instead.
    email_preference_set(workspace=workspace, actor=bob, email=AlertPreference.Email.HOURLY)
    approvals.decide(draft_id=draft.pk, decision="approve", comment="Good", by_user=alice)
    # One act, one email per person: vera (the client reviewer, who chose immediately).
    assert [m.to for m in mail.outbox] == [[vera.email]]
    mail.outbox.clear()
    AlertPreference.objects.filter(user=bob).update(digest_until=draft.submitted_at)
    assert alerts_digest() == 1
    assert [m.to for m in mail.outbox] == [[bob.email]] and "Approved" in mail.outbox[0].body


def test_members_watch_and_stop_on_the_draft_page_outsiders_cannot(
    in_review, login, alice, bob, vera, charlie
):
    draft = in_review("internal")
    watch = draft_url(draft, "posting:draft_watch")
    page = login(vera).get(draft_url(draft)).content.decode()
    assert 'data-testid="draft-watch"' in page and 'data-watching="0"' in page
    # A viewer (who sees the draft) watches with the plain form; the page says so.
    response = login(vera).post(watch, {"watching": "1"}, follow=True)
    assert (
        response.status_code == 200 and "You are watching this draft" in response.content.decode()
    )
    assert 'data-watching="1"' in response.content.decode() and vera.pk in watching(draft)
    login(vera).post(watch, {"watching": "0"})
    assert vera.pk not in watching(draft)
    # An outsider gets the 404 of a draft that is not theirs to know of, and watches nothing.
    assert login(charlie).post(watch, {"watching": "1"}).status_code == 404
    assert login(charlie).get(draft_url(draft)).status_code == 404
    # A member of another workspace, even its owner, likewise.
    other = Workspace.objects.create(name="Other")
    Membership.objects.create(workspace=other, user=charlie, role=Membership.Role.OWNER)
    assert login(charlie).post(watch, {"watching": "1"}).status_code == 404
    # The service decides on its own: a non-member is refused (a 403, with its reason).
    with pytest.raises(watchers.NotAWatcher, match="Only members"):
        watchers.watch_set(draft=draft, actor=charlie, watching=True)
    assert charlie.pk not in set(DraftWatch.objects.values_list("user_id", flat=True))
    # Bad input gets a sentence and changes nothing; a GET is refused.
    page = login(alice).post(watch, {"watching": "yes"}, follow=True).content.decode()
    assert "Choose Watch or Stop watching" in page and alice.pk not in watching(draft)
    assert login(alice).get(watch).status_code == 405


def test_a_sent_draft_cannot_be_watched_any_more(in_review, alice, bob, no_queue):
    draft = in_review("internal")
    approvals.decide(draft_id=draft.pk, decision="approve", by_user=alice)
    with pytest.raises(watchers.WatchError, match="sent or deleted"):
        watchers.watch_set(draft=draft, actor=alice, watching=True)


def test_the_draft_page_runs_a_fixed_number_of_queries_whatever_the_watchers(
    in_review, login, workspace, alice, bob, django_assert_num_queries
):
    from tests.personas import verified_user

    draft = in_review("internal")
    client = login(alice)
    client.get(draft_url(draft))  # warm: the session's first read

    def count() -> int:
        with django_assert_num_queries(QUERIES):
            html = client.get(draft_url(draft)).content.decode()
        return html.count('data-testid="draft-watch-button"')

    assert count() == 1
    for n in range(5):
        user = verified_user(f"watcher{n}@example.test", f"Watcher {n}")
        Membership.objects.create(workspace=workspace, user=user, role=Membership.Role.EDITOR)
        watchers.watch_set(draft=Draft.objects.get(pk=draft.pk), actor=user, watching=True)
    watchers.watch_set(draft=draft, actor=alice, watching=True)
    assert count() == 1


#: The draft page's queries (see the test above): the eleven it has always run (session, user,
#: memberships, the draft, its accounts, versions, storage, ...), one for who wrote the version
#: under review (four eyes on the page) and one for "am I watching".
QUERIES = 13
