"""The post page (details, results with explained codes, repost marking, audit trail, seen
failures) and cancelling a scheduled post against the sandbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.access import RoleRequired
from accounts.models import AuditEvent, Membership, Workspace
from posting.mirror import sync
from posting.models import Post, PostResult
from posting.sending.cancel import post_cancel
from tests.posting.factories import make_platforms, make_post
from tests.posting.sandbox_posts import *  # noqa: F403
from tests.posting.sandbox_posts import now_ms

pytestmark = pytest.mark.django_db


def post_url(post, name="posting:post") -> str:
    return reverse(name, kwargs={"code": post.workspace.code, "post_code": post.code})


def cancel_url(post) -> str:
    return post_url(post, "posting:post_cancel")


@pytest.fixture
def platforms(workspace):
    return make_platforms(workspace)


@pytest.fixture
def failed_post(workspace, platforms, alice):
    post = make_post(
        workspace,
        platforms,
        {
            "X": "FAILED:DESCRIPTION_TOO_LONG",
            "TikTok": "FAILED:SOMETHING_NEW",
            "YouTube": "SUCCESS",
        },
        description="A long caption",
        author=alice,
        taisly_id="abc123",
        video_name="launch.mp4",
        video_size=5_000_000,
        video_duration=12.5,
        video_width=1080,
        video_height=1920,
    )
    facebook = PostResult.objects.create(
        post=post, platform=platforms["Facebook"], status="SUCCESS", is_repost=True
    )
    facebook.repost_of = platforms["YouTube"]
    facebook.save()
    return post


@pytest.fixture
def other_post_failure(workspace, platforms, alice):
    """A FAILED result of another post of the same workspace."""
    post = make_post(workspace, platforms, {"X": "FAILED:DESCRIPTION_TOO_LONG"}, author=alice)
    return post.results.get()


def test_the_post_page_shows_every_detail_and_explains_known_codes(failed_post, alice, login):
    response = login(alice).get(post_url(failed_post))

    assert response.status_code == 200
    html = response.content.decode()
    assert "2 of 4 posted" in html
    assert "DESCRIPTION_TOO_LONG" in html
    assert "X takes 100 characters" in html  # the explanation of a known code
    assert "SOMETHING_NEW" in html  # an unknown code, shown as it is
    assert "Reposted from YouTube @acme_youtube" in html
    for detail in ("launch.mp4", "4.8\xa0MB", "12.5 s", "1080×1920", "abc123", "Alice"):
        assert detail in html
    # Taisly has it: the upload's progress is over, the results table says the rest.
    assert 'data-testid="post-progress"' not in html


def seen_url(post) -> str:
    return post_url(post, "posting:post_seen")


def shown(post) -> dict:
    """The post-back of a page that showed ``post``'s failures: their result ids."""
    return {"result": list(post.results.filter(status="FAILED").values_list("pk", flat=True))}


def test_a_member_opening_the_page_marks_its_failures_seen(failed_post, vera, login):
    """Reading the page writes nothing; the page, once shown, posts back that its failures were
    seen (htmx on load, or its button without JavaScript)."""
    assert PostResult.objects.filter(status="FAILED", seen_at__isnull=True).count() == 2
    client = login(vera)

    html = client.get(post_url(failed_post)).content.decode()
    assert PostResult.objects.filter(status="FAILED", seen_at__isnull=True).count() == 2
    assert 'data-testid="mark-seen"' in html and f'hx-post="{seen_url(failed_post)}"' in html
    for result_id in shown(failed_post)["result"]:
        assert f'name="result" value="{result_id}"' in html

    response = client.post(seen_url(failed_post), shown(failed_post), HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert PostResult.objects.filter(status="FAILED", seen_at__isnull=True).count() == 0
    html = client.get(post_url(failed_post)).content.decode()
    assert 'data-testid="mark-seen"' not in html  # nothing left to mark


def test_marking_seen_without_javascript_goes_back_to_the_page(failed_post, alice, login):
    response = login(alice).post(seen_url(failed_post), shown(failed_post))

    assert response.status_code == 302 and response["Location"] == post_url(failed_post)
    assert PostResult.objects.filter(status="FAILED", seen_at__isnull=True).count() == 0


def test_staff_looking_in_do_not_mark_failures_seen(failed_post, staff, login):
    client = login(staff)
    html = client.get(post_url(failed_post)).content.decode()
    assert 'data-testid="mark-seen"' not in html

    response = client.post(seen_url(failed_post), shown(failed_post), HTTP_HX_REQUEST="true")
    assert response.status_code == 204

    assert PostResult.objects.filter(status="FAILED", seen_at__isnull=True).count() == 2


def test_only_the_failures_the_page_showed_are_marked_seen(failed_post, vera, login):
    """A failure that reached the mirror after the page was shown is still news."""
    first, later = failed_post.results.filter(status="FAILED").order_by("pk")

    response = login(vera).post(seen_url(failed_post), {"result": [first.pk]})

    assert response.status_code == 302
    first.refresh_from_db(), later.refresh_from_db()
    assert first.seen_at is not None and later.seen_at is None


def test_a_member_removed_since_the_page_was_shown_marks_nothing(failed_post, vera, login):
    client = login(vera)
    Membership.objects.filter(user=vera, workspace=failed_post.workspace).delete()

    # The service decides under lock: no membership now, nothing marked (the view's own check
    # already answers 404 for the outsider vera has become).
    from posting.sending import seen

    ids = shown(failed_post)["result"]
    assert seen.failures_mark_seen(post=failed_post, actor=vera, shown=ids) == 0
    assert client.post(seen_url(failed_post), shown(failed_post)).status_code == 404
    assert PostResult.objects.filter(status="FAILED", seen_at__isnull=True).count() == 2


def test_marking_seen_ignores_what_is_no_result_id(failed_post, other_post_failure, vera, login):
    junk = ["x", "²", "9" * 40, "-1", str(other_post_failure.pk)]

    response = login(vera).post(seen_url(failed_post), {"result": junk})

    assert response.status_code == 302
    assert PostResult.objects.filter(status="FAILED", seen_at__isnull=True).count() == 3


def test_marking_seen_checks_the_workspace_and_the_method(failed_post, charlie, vera, login):
    assert login(charlie).post(seen_url(failed_post)).status_code == 404
    assert login(vera).get(seen_url(failed_post)).status_code == 405
    missing = reverse(
        "posting:post_seen",
        kwargs={
            "code": failed_post.workspace.code,
            "post_code": "00000000-0000-0000-0000-000000000000",
        },
    )
    assert login(vera).post(missing).status_code == 404
    assert PostResult.objects.filter(status="FAILED", seen_at__isnull=True).count() == 2


def test_the_post_page_shows_the_posts_audit_trail(failed_post, alice, bob, login):
    AuditEvent.objects.create(
        workspace=failed_post.workspace,
        actor=bob,
        actor_email=bob.email,
        action=AuditEvent.Action.POST_CANCELLED,
        target=str(failed_post.code),
    )
    AuditEvent.objects.create(
        workspace=failed_post.workspace, action=AuditEvent.Action.MEMBER_JOINED, target="x"
    )

    html = login(alice).get(post_url(failed_post)).content.decode()

    assert "Scheduled post cancelled" in html and bob.email in html
    assert "Member joined" not in html


def test_a_post_of_another_workspace_is_a_404(failed_post, charlie, login):
    other = Workspace.objects.create(name="Other")
    Membership.objects.create(workspace=other, user=charlie, role="owner")
    client = login(charlie)
    address = reverse("posting:post", kwargs={"code": other.code, "post_code": failed_post.code})

    assert client.get(address).status_code == 404
    assert client.get(cancel_url(failed_post)).status_code == 404


def test_a_viewer_sees_no_cancel_and_gets_403_cancelling(workspace, platforms, vera, login):
    post = make_post(
        workspace,
        platforms,
        {"TikTok": "PENDING"},
        taisly_id="s1",
        scheduled_at=timezone.now() + timedelta(hours=2),
        due_at=timezone.now() + timedelta(hours=2),
    )
    client = login(vera)

    html = client.get(post_url(post)).content.decode()
    assert 'data-testid="cancel-post"' not in html
    assert 'data-testid="sync-now"' not in html
    assert client.get(cancel_url(post)).status_code == 403
    assert client.post(cancel_url(post)).status_code == 403
    post.refresh_from_db()
    assert post.state == Post.State.SENT


# --- Cancelling, against the sandbox --------------------------------------------------------


@pytest.fixture
def scheduled(workspace, connected, sandbox_api, test_video):
    """A post scheduled an hour ahead in the sandbox, synced into the mirror."""
    platform_id = connected["platforms"][0]["_id"]
    body = sandbox_api.create_post(
        test_video, [platform_id], description="Later", scheduled=now_ms() + 3_600_000
    ).json()
    sync.history_sync(workspace=workspace)
    return Post.objects.get(workspace=workspace, taisly_id=body["historyId"])


def test_cancelling_a_scheduled_post_asks_then_cancels_it_at_taisly(
    scheduled, bob, login, sandbox_api, calls
):
    client = login(bob)
    page = client.get(post_url(scheduled)).content.decode()
    assert 'data-testid="cancel-post"' in page

    confirm = client.get(cancel_url(scheduled))
    assert confirm.status_code == 200
    assert "This cannot be undone." in confirm.content.decode()

    response = client.post(cancel_url(scheduled), follow=True)

    assert response.status_code == 200
    assert "The scheduled post was cancelled." in response.content.decode()
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.CANCELLED
    assert [c.endpoint for c in calls] == ["GET /post/cancelSchedule"]
    assert sandbox_api.history()["total"] == 0
    event = AuditEvent.objects.get(action=AuditEvent.Action.POST_CANCELLED)
    assert (event.actor, event.target) == (bob, str(scheduled.code))
    assert event.details["taisly_id"] == scheduled.taisly_id


def test_taisly_refusing_a_post_past_due_is_a_sentence(scheduled, bob, login, sandbox):
    sandbox.advance(7200)  # Taisly's clock says it has gone out; ours does not yet

    response = login(bob).post(cancel_url(scheduled))

    assert response.status_code == 409
    assert "Taisly no longer allows cancelling this post" in response.content.decode()
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.SENT
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.POST_CANCELLED).exists()


def test_a_post_already_due_here_is_refused_without_asking_taisly(
    workspace, platforms, bob, login, calls
):
    post = make_post(
        workspace,
        platforms,
        {"TikTok": "SUCCESS"},
        taisly_id="gone",
        scheduled_at=timezone.now() - timedelta(minutes=5),
        due_at=timezone.now() - timedelta(minutes=5),
    )
    client = login(bob)

    confirm = client.get(cancel_url(post)).content.decode()
    assert "cannot be cancelled" in confirm and 'data-testid="confirm-cancel"' not in confirm
    response = client.post(cancel_url(post))

    assert response.status_code == 409
    assert "its time has come" in response.content.decode()
    assert calls == []


@pytest.mark.parametrize(
    ("fault", "sentence"),
    [
        ("500", "may or may not have been cancelled"),
        ("429", "The post was not cancelled."),
    ],
)
def test_a_taisly_failure_while_cancelling_is_a_sentence(
    scheduled, bob, login, sandbox, fault, sentence
):
    sandbox.fault(fault)

    response = login(bob).post(cancel_url(scheduled))

    assert response.status_code == 409
    assert sentence in response.content.decode()
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.SENT


def test_the_service_rechecks_authority(scheduled, bob, calls):
    Membership.objects.filter(user=bob, workspace=scheduled.workspace).update(role="viewer")

    with pytest.raises(RoleRequired):
        post_cancel(post=scheduled, actor=bob)

    assert calls == []


@pytest.mark.parametrize("retries", [1, 12])
def test_the_post_page_runs_a_fixed_number_of_queries(
    failed_post, alice, login, django_assert_num_queries, retries
):
    """Whatever the number of retries or results: the retry box reads from the results the
    page has already read (no template tag queries on its own)."""
    for _ in range(retries):
        make_post(
            failed_post.workspace,
            {},
            {},
            author=alice,
            retry_of=failed_post,
        )
    client = login(alice)
    # 1 session, 2 user, 3 memberships (access and navigation), 4 the post with its author,
    # 5 results with their platforms (also the retry box's), 6 audit events, 7 mirror state,
    # 8 retries of this post, 9 the other Taisly posts of its group (a caption per network).
    with django_assert_num_queries(9):
        response = client.get(post_url(failed_post))
    html = response.content.decode()
    assert response.status_code == 200
    assert (
        html.count('data-testid="retries"') == 1 and html.count('<li class="is-size-7">') == retries
    )
