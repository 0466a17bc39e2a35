"""The calendar that plans: a "+" on every day and hour to come opens compose at that time; a
scheduled post or a draft moves through a confirmation ("Move"), which runs the edit (against
the sandbox over HTTP) or re-plans the draft; drafts show on the grid; who may do what."""

from __future__ import annotations

import html as htmllib
import re
import zoneinfo
from datetime import datetime, timedelta
from datetime import time as dt_time

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from posting import tasks
from posting.models import Draft, Post, PostingSlot
from tests.posting.factories import bulk_posts, make_platforms
from tests.posting.sandbox_posts import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import in_sandbox, local

pytestmark = pytest.mark.django_db(transaction=True)


def week_url(workspace, day=None) -> str:
    base = reverse("posting:calendar_week", kwargs={"code": workspace.code})
    return f"{base}?date={day:%Y-%m-%d}" if day else base


def month_url(workspace, day=None) -> str:
    base = reverse("posting:calendar", kwargs={"code": workspace.code})
    return f"{base}?month={day:%Y-%m}" if day else base


def move_url(post, at: str | None = None) -> str:
    base = reverse(
        "posting:calendar_move_post", kwargs={"code": post.workspace.code, "post_code": post.code}
    )
    return f"{base}?at={at}" if at else base


def draft_move_url(draft) -> str:
    return reverse(
        "posting:calendar_move_draft",
        kwargs={"code": draft.workspace.code, "draft_code": draft.code},
    )


def make_draft(workspace, when, description="Planned draft") -> Draft:
    return Draft.objects.create(workspace=workspace, description=description, scheduled_at=when)


def text_of(response) -> str:
    return htmllib.unescape(response.content.decode())


# --- Move a scheduled post -----------------------------------------------------------------


def test_a_drop_opens_a_confirmation_that_says_old_and_new_time_and_the_cost(
    login, bob, scheduled, queue
):
    new_time = timezone.localtime(scheduled.scheduled_at + timedelta(days=1)).replace(minute=0)

    page = login(bob).get(move_url(scheduled, local(new_time)))

    html = text_of(page)
    assert page.status_code == 200
    old = re.search(r'data-testid="move-old">(.*?)<', html).group(1)
    new = re.search(r'data-testid="move-new">(.*?)<', html).group(1)
    assert old == f"{timezone.localtime(scheduled.scheduled_at):%a %-d %b %Y, %H:%M}"
    assert new == f"{new_time:%a %-d %b %Y, %H:%M}"
    assert "This edit costs 2 Taisly requests: 1 to cancel and 1 to make it again" in html
    assert f'value="{new_time:%Y-%m-%d}"' in html and f'value="{new_time:%H:%M}"' in html
    # Nothing happened before the confirmation.
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.SENT and queue == []


def test_confirming_moves_the_post_through_the_edit_one_taisly_post_at_the_new_time(
    login, bob, scheduled, queue, sandbox, connected_ws
):
    [original] = in_sandbox(sandbox, connected_ws)
    new_time = (scheduled.scheduled_at + timedelta(days=1, hours=2)).replace(second=0)
    moment = timezone.localtime(new_time)

    response = login(bob).post(
        move_url(scheduled), {"day": f"{moment:%Y-%m-%d}", "time": f"{moment:%H:%M}"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse(
        "posting:post", kwargs={"code": scheduled.workspace.code, "post_code": scheduled.code}
    )
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.EDITING and queue == [("edit", scheduled.pk)]
    assert tasks.edit_post(scheduled.pk) == "edited"
    assert tasks.forward_post(scheduled.pk) == "sent"
    [made] = in_sandbox(sandbox, connected_ws)
    scheduled.refresh_from_db()
    assert made["id"] == scheduled.taisly_id != original["id"]
    assert scheduled.scheduled_at == new_time and scheduled.description == "A test post"
    assert Post.objects.count() == 1
    edit = AuditEvent.objects.get(action=AuditEvent.Action.POST_EDIT_REQUESTED)
    assert edit.details["to"]["scheduled_at"] == new_time.isoformat()
    assert edit.details["to"]["captions"] == edit.details["from"]["captions"]


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        ({"day": "2001-01-01", "time": "10:00"}, "That time has already passed"),
        ({"day": "0001-01-01", "time": "10:00"}, "Enter a date between"),
        ({"day": "2150-01-01", "time": "10:00"}, "Enter a date between"),
        ({"day": "2099-12-31", "time": "10:00"}, "Choose a time within the next"),
        ({"day": "tomorrow", "time": "25:99"}, "Enter a valid time"),
        ({"day": "", "time": ""}, "Choose the day."),
    ],
)
def test_a_bad_new_time_is_said_and_nothing_moves(login, bob, scheduled, queue, data, sentence):
    response = login(bob).post(move_url(scheduled), data)

    assert response.status_code == 422
    assert sentence in text_of(response)
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.SENT and queue == []


def test_an_unreadable_or_passed_time_in_the_address_is_said(login, bob, scheduled):
    client = login(bob)

    unreadable = client.get(move_url(scheduled, "2026-13-45T99:00"))
    passed = client.get(move_url(scheduled, "2001-01-01T10:00"))
    out_of_bounds = client.get(move_url(scheduled, "9999-12-31T23:59"))

    assert unreadable.status_code == 422 and "could not be read" in text_of(unreadable)
    assert passed.status_code == 422 and "That time has already passed" in text_of(passed)
    assert out_of_bounds.status_code == 422 and "could not be read" in text_of(out_of_bounds)


def test_only_writers_may_move_and_outsiders_do_not_see_it(login, vera, charlie, scheduled, queue):
    data = {"day": "2099-01-01", "time": "10:00"}
    assert login(vera).get(move_url(scheduled)).status_code == 403
    assert login(vera).post(move_url(scheduled), data).status_code == 403
    assert login(charlie).post(move_url(scheduled), data).status_code == 404
    scheduled.refresh_from_db()
    assert scheduled.state == Post.State.SENT and queue == []


def test_a_post_that_can_no_longer_move_says_why(login, bob, scheduled, queue):
    Post.objects.filter(pk=scheduled.pk).update(state=Post.State.EDITING)

    response = login(bob).post(move_url(scheduled), {"day": "2099-01-01", "time": "10:00"})

    assert response.status_code == 409
    assert "This post is being edited" in text_of(response)
    assert queue == []


# --- Drafts --------------------------------------------------------------------------------


def test_a_draft_moves_to_its_new_time_without_a_taisly_request(login, bob, workspace, calls):
    draft = make_draft(workspace, timezone.now() + timedelta(days=1))
    new_time = (timezone.localtime() + timedelta(days=2)).replace(
        hour=14, minute=0, second=0, microsecond=0
    )

    page = login(bob).get(f"{draft_move_url(draft)}?at={new_time:%Y-%m-%dT%H:%M}")
    response = login(bob).post(
        draft_move_url(draft), {"day": f"{new_time:%Y-%m-%d}", "time": "14:00"}
    )

    assert page.status_code == 200 and "costs no Taisly request" in text_of(page)
    assert response.status_code == 302
    assert response["Location"] == f"{week_url(workspace, new_time)}"
    draft.refresh_from_db()
    assert draft.scheduled_at == new_time and calls == []
    saved = AuditEvent.objects.get(action=AuditEvent.Action.DRAFT_SAVED)
    assert saved.details["scheduled_at"]["to"] == new_time.isoformat()


def test_a_draft_move_refuses_a_passed_time_a_viewer_and_a_sent_draft(login, bob, vera, workspace):
    planned = timezone.now() + timedelta(days=1)
    draft = make_draft(workspace, planned)
    passed = login(bob).post(draft_move_url(draft), {"day": "2001-01-01", "time": "10:00"})
    viewer = login(vera).post(draft_move_url(draft), {"day": "2099-01-01", "time": "10:00"})
    Draft.objects.filter(pk=draft.pk).update(sent_at=timezone.now())
    sent = login(bob).post(draft_move_url(draft), {"day": "2099-01-01", "time": "10:00"})

    assert passed.status_code == 422 and "That time has already passed" in text_of(passed)
    assert viewer.status_code == 403
    assert sent.status_code == 409 and "sent or deleted already" in text_of(sent)
    draft.refresh_from_db()
    assert draft.scheduled_at == planned


def test_drafts_show_on_the_calendar_as_drafts_linking_to_their_page(login, alice, workspace):
    when = (timezone.localtime() + timedelta(days=3)).replace(hour=15, minute=30)
    draft = make_draft(workspace, when, description="Draft for Friday")
    client = login(alice)

    for address in (week_url(workspace, when), month_url(workspace, when)):
        html = client.get(address).content.decode()
        entry = re.search(r'<a class="calendar-post is-draft"[^>]*>.*?</a>', html, re.S)
        assert entry, address
        assert "Draft for Friday" in entry.group(0) and 'data-testid="draft-badge"' in entry[0]
        assert reverse(
            "posting:draft", kwargs={"code": workspace.code, "draft_code": draft.code}
        ) in entry.group(0)
        assert f'data-move-url="{draft_move_url(draft)}"' in entry.group(0)
    week = client.get(week_url(workspace, when)).content.decode()
    cell = re.search(rf'data-at="{when:%Y-%m-%d}T15:00"(.*?)</div>', week, re.S).group(1)
    assert "Draft for Friday" in cell


# --- Click to compose ----------------------------------------------------------------------


def test_writers_get_a_compose_link_on_each_hour_to_come_and_viewers_none(
    login, alice, vera, workspace
):
    now = timezone.localtime()
    compose = reverse("posting:compose", kwargs={"code": workspace.code})
    later = now + timedelta(days=2)
    earlier = now - timedelta(days=2)
    make_draft(workspace, later, description="Movable draft")

    week = login(alice).get(week_url(workspace, later)).content.decode()
    past_week = login(alice).get(week_url(workspace, earlier)).content.decode()
    month = login(alice).get(month_url(workspace, later)).content.decode()
    viewer = login(vera).get(week_url(workspace, later)).content.decode()

    assert f'href="{compose}?at={later:%Y-%m-%d}T14:00"' in week
    assert f'href="{compose}?at={later:%Y-%m-%d}T09:00"' in month
    assert f"?at={earlier:%Y-%m-%d}T" not in past_week  # a past hour gets no link
    assert f"?at={now:%Y-%m-%dT%H}:00" not in week  # nor the hour under way
    assert "?at=" not in viewer and 'data-testid="calendar-move"' not in viewer
    assert "js/calendar.js" not in viewer and "js/calendar.js" in week
    assert 'data-testid="calendar-move"' in week


# --- Posting slots on the calendar -------------------------------------------------------------


def test_open_slots_show_in_the_viewers_time_and_taken_ones_as_their_posts(
    login, alice, vera, workspace
):
    """Slots are kept in the workspace's zone (Jakarta, UTC+7) and shown in the viewer's
    (Alice in Berlin): a free one links to compose for its time, a taken one shows only as
    the post due then; a viewer sees the free one without a link."""
    workspace.time_zone = "Asia/Jakarta"
    workspace.save(update_fields=["time_zone"])
    alice.timezone = "Europe/Berlin"
    alice.save(update_fields=["timezone"])
    jakarta, berlin = zoneinfo.ZoneInfo("Asia/Jakarta"), zoneinfo.ZoneInfo("Europe/Berlin")
    day = (timezone.now().astimezone(jakarta) + timedelta(days=3)).date()
    for clock in (dt_time(16, 0), dt_time(20, 0)):
        PostingSlot.objects.create(workspace=workspace, weekday=day.weekday(), time=clock)
    free = datetime.combine(day, dt_time(16, 0), tzinfo=jakarta).astimezone(berlin)
    taken = datetime.combine(day, dt_time(20, 0), tzinfo=jakarta)
    bulk_posts(workspace, make_platforms(workspace), 1)
    Post.objects.update(due_at=taken, scheduled_at=taken, state=Post.State.SENT)
    compose = reverse("posting:compose", kwargs={"code": workspace.code})

    client = login(alice)
    week = client.get(week_url(workspace, free)).content.decode()
    month = client.get(month_url(workspace, free)).content.decode()
    viewer = login(vera).get(week_url(workspace, free)).content.decode()

    link = f'href="{compose}?at={free:%Y-%m-%dT%H:%M}" data-testid="calendar-slot"'
    gone = f'?at={taken.astimezone(berlin):%Y-%m-%dT%H:%M}" data-testid="calendar-slot"'
    assert week.count('data-testid="calendar-slot"') == 1  # one a week, the free one
    for page in (week, month):  # the month shows each week's
        assert link in page and gone not in page
        assert f'datetime="{free.isoformat()}"' in page
    assert viewer.count('data-testid="calendar-slot"') == 1 and "?at=" not in viewer
    assert 'data-testid="calendar-post"' in week  # the taken slot is its post


def test_compose_starts_at_the_time_the_calendar_asked_for(login, alice, workspace, connected_ws):
    compose = reverse("posting:compose", kwargs={"code": workspace.code})
    later = (timezone.localtime() + timedelta(days=2)).replace(hour=14, minute=0)
    client = login(alice)

    planned = client.get(f"{compose}?at={later:%Y-%m-%dT%H:%M}")
    passed = client.get(f"{compose}?at=2001-01-01T10:00")
    bad = client.get(f"{compose}?at=9999-99-99T99:99")

    assert planned.status_code == 200
    html = planned.content.decode()
    assert f'value="{later:%Y-%m-%dT%H:%M}"' in html
    assert re.search(r'value="later"[^>]*checked', html)
    sentences = ("That time has passed", "The calendar's time could not be read")
    for response, sentence in zip((passed, bad), sentences, strict=True):
        # Not used, and said: the form is at "Schedule" with no time, no field in error.
        assert response.status_code == 200
        page = response.content.decode()
        assert re.search(r'value="later"[^>]*checked', page)
        [field] = re.findall(r'<input[^>]*name="scheduled_at"[^>]*>', page)
        assert "value=" not in field
        assert 'class="help is-danger" role="alert">' not in page
        assert sentence in htmllib.unescape(page)
    assert "That time has passed" not in htmllib.unescape(html)


# --- Fixed queries ---------------------------------------------------------------------------


@pytest.mark.parametrize("count", [10, 3000])
def test_the_queries_stay_fixed_with_many_posts_and_drafts(
    login, alice, workspace, django_assert_num_queries, count
):
    bulk_posts(workspace, make_platforms(workspace), count)
    now = timezone.now()
    Draft.objects.bulk_create(
        Draft(workspace=workspace, description=f"Draft {i}", scheduled_at=now + timedelta(hours=i))
        for i in range(count // 10)
    )
    PostingSlot.objects.bulk_create(  # 35 slots a week: two queries whatever their number
        PostingSlot(workspace=workspace, weekday=day, time=dt_time(hour, 0))
        for day in range(7)
        for hour in (8, 10, 12, 15, 18)
    )
    client = login(alice)

    for address in (month_url(workspace), week_url(workspace)):
        # 1 session, 2 user, 3 memberships, 4 each day's first posts and totals, 5 the drafts,
        # 6 the posting slots, 7 the posts due at the slots' times (which are taken).
        with django_assert_num_queries(7):
            response = client.get(address)
        html = response.content.decode()
        assert response.status_code == 200
        assert 'data-testid="draft-badge"' in html and 'data-testid="calendar-move"' in html


# --- Across clients ----------------------------------------------------------------------------


def everywhere(query: str = "") -> str:
    return reverse("calendar_everywhere") + query


@pytest.fixture
def agency(workspace, alice, charlie):
    """Alice owns Acme (``workspace``) and edits Beta; Charlie's Gamma is not hers; Delta asks
    for two-factor sign-in, which Alice has not set up. Each has a post tomorrow at 10:00."""
    from accounts.models import Membership, Workspace

    beta = Workspace.objects.create(name="Beta", kind=Workspace.Kind.CLIENT)
    gamma = Workspace.objects.create(name="Gamma", kind=Workspace.Kind.CLIENT)
    delta = Workspace.objects.create(name="Delta", kind=Workspace.Kind.CLIENT, require_2fa=True)
    Membership.objects.create(workspace=beta, user=alice, role=Membership.Role.EDITOR)
    Membership.objects.create(workspace=delta, user=alice, role=Membership.Role.OWNER)
    Membership.objects.create(workspace=gamma, user=charlie, role=Membership.Role.OWNER)
    when = (timezone.localtime() + timedelta(days=1)).replace(hour=10, minute=0)
    posts = {}
    for space in (workspace, beta, gamma, delta):
        platforms = make_platforms(space)
        from tests.posting.factories import make_post

        posts[space.name] = make_post(
            space, platforms, description=f"{space.name} post", due_at=when
        )
    return {"Acme": workspace, "Beta": beta, "Gamma": gamma, "Delta": delta, "posts": posts}


def test_one_calendar_shows_every_workspace_of_the_person_each_linked_to_its_own(
    login, alice, agency
):
    client = login(alice)

    html = text_of(client.get(everywhere()))
    week = text_of(client.get(reverse("calendar_everywhere_week")))

    for page in (html, week):
        assert "Acme post" in page and "Beta post" in page
        assert "Gamma post" not in page and "Gamma" not in page  # not hers
        assert "Delta post" not in page  # two-factor first
        assert "ask for two-factor sign-in" in page or "asks for two-factor sign-in" in page
        for name in ("Acme", "Beta"):
            space, post = agency[name], agency["posts"][name]
            url = reverse("posting:post", kwargs={"code": space.code, "post_code": post.code})
            assert url in page
        assert re.search(r'data-testid="calendar-workspace">Beta<', page)


def test_the_filter_shows_only_the_chosen_workspaces_and_never_an_outsiders(login, alice, agency):
    beta, gamma = agency["Beta"], agency["Gamma"]

    only_beta = text_of(login(alice).get(everywhere(f"?w={beta.code}")))
    asked_gamma = text_of(login(alice).get(everywhere(f"?w={gamma.code}&w=nonsense")))

    assert "Beta post" in only_beta and "Acme post" not in only_beta
    assert f'name="w" value="{beta.code}" checked' in only_beta
    assert f"&w={beta.code}" in only_beta  # carried on the month's and week's links
    # An outsider's code chooses nothing of theirs: it is no choice at all, so all of hers show.
    assert "Gamma" not in asked_gamma and f'value="{gamma.code}"' not in asked_gamma
    assert "Acme post" in asked_gamma and "Beta post" in asked_gamma
    assert "so the calendar shows all of your workspaces" in asked_gamma  # and says so
    mixed = login(alice).get(everywhere(f"?w={beta.code}&w={gamma.code}"))
    assert mixed.status_code == 422
    assert "so it is left out" in text_of(mixed) and "Acme post" not in text_of(mixed)
    assert "not one of yours" not in only_beta


def test_across_clients_the_queries_do_not_grow_with_the_workspaces(
    login, alice, workspace, django_assert_num_queries
):
    from accounts.models import Membership, Workspace

    client = login(alice)
    counts = []
    for extra in (0, 6):
        for i in range(extra):
            space = Workspace.objects.create(name=f"Client {i}", kind=Workspace.Kind.CLIENT)
            Membership.objects.create(workspace=space, user=alice, role=Membership.Role.EDITOR)
            bulk_posts(space, make_platforms(space), 30)
        # 1 session, 2 user, 3 memberships, 4 the posts of every workspace, 5 their drafts.
        with django_assert_num_queries(5):
            response = client.get(everywhere())
        counts.append(response.content.decode().count('data-testid="calendar-workspace"'))
    assert counts[0] == 0 and counts[1] > 0
