"""Every date and number a person can type, walked with extreme values: year 1 and 9999, huge
and negative numbers, NUL, very long strings. None is a 500; a refused value is named in a
sentence beside the list, which stays visible with the filters that were valid."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from posting.models import Draft
from tests.posting.factories import make_platforms, make_post

pytestmark = pytest.mark.django_db

EXTREMES = [
    "0001-01-01",
    "0000-01",
    "1-01-01",
    "9999-12-31",
    "9999-12-31T23:59",
    "0001-01-01T00:00",
    "10000-01-01",
    "2026-02-30",
    "-1",
    "0",
    "99999999999999999999999999",
    "-99999999999999999999999999",
    "1e400",
    "NaN",
    "inf",
    "\x00",
    "2026-01-01\x00",
    "x" * 10_000,
    "9" * 10_000,
]


def walk(client: Client, url: str, params: list[str], method: str = "get") -> list[tuple]:
    """``url`` with each of ``params`` set to each extreme; the answers that were 500s."""
    broken = []
    for name in params:
        for value in EXTREMES:
            response = getattr(client, method)(url, {name: value})
            if response.status_code >= 500:
                broken.append((name, value[:20], response.status_code))
    return broken


#: The viewer's zone moves every typed date by up to 14 hours either way.
ZONES = ["UTC", "Pacific/Kiritimati", "Etc/GMT+12"]


@pytest.fixture
def member(alice, workspace, login):
    make_post(workspace, make_platforms(workspace, ["TikTok"]), {"TikTok": "SUCCESS"})
    client = login(alice)
    client.raise_request_exception = False
    return client


@pytest.fixture
def overseer(staff, alice, workspace, login):
    AuditEvent.objects.create(workspace=workspace, workspace_name="Acme", action="member.invited")
    client = login(staff)
    client.raise_request_exception = False
    return client


def test_no_input_of_a_workspace_page_is_a_500(member, workspace):
    code = {"code": workspace.code}
    draft = Draft.objects.create(workspace=workspace, scheduled_at=timezone.now())
    draft_move = reverse("posting:calendar_move_draft", kwargs={**code, "draft_code": draft.code})
    pages = {
        reverse("posting:history", kwargs=code): ["start", "end", "q", "status", "page"],
        reverse("posting:calendar", kwargs=code): ["month"],
        reverse("posting:calendar_week", kwargs=code): ["date"],
        reverse("posting:alerts", kwargs=code): ["kind", "network", "unread", "page"],
        reverse("accounts:audit", kwargs=code): ["page"],
        reverse("accounts:workspace", kwargs=code): ["page"],
        reverse("posting:charts", kwargs=code): ["page"],
        reverse("posting:quota_meter", kwargs=code): ["page"],
        reverse("alerts_everywhere"): ["fragment"],
        reverse("failure_inbox"): ["w", "show", "page"],
        reverse("calendar_everywhere"): ["month", "w"],
        reverse("calendar_everywhere_week"): ["date", "w"],
        reverse("posting:compose", kwargs=code): ["at"],
        draft_move: ["at"],
        reverse("home"): ["page"],
    }
    broken = [(url, *b) for url, params in pages.items() for b in walk(member, url, params)]
    # What a POST carries back into a redirect: the list's filters, the page to return to.
    posts = {
        reverse("posting:alerts_read_all", kwargs=code): ["query"],
        reverse("posting:sync", kwargs=code): ["next"],
        draft_move: ["day", "time"],
    }
    broken += [
        (url, *b) for url, params in posts.items() for b in walk(member, url, params, "post")
    ]
    assert broken == []


@pytest.mark.parametrize("zone", ZONES)
def test_no_typed_date_is_a_500_in_any_time_zone(zone, alice, staff, member, overseer, workspace):
    for user in (alice, staff):
        user.timezone = zone
        user.save(update_fields=["timezone"])
    code = {"code": workspace.code}
    broken = walk(member, reverse("posting:history", kwargs=code), ["start", "end"])
    broken += walk(member, reverse("posting:calendar", kwargs=code), ["month"])
    broken += walk(member, reverse("posting:calendar_week", kwargs=code), ["date"])
    broken += walk(member, reverse("posting:compose", kwargs=code), ["at"])
    for name in ("oversight:audit", "oversight:audit_export"):
        broken += walk(overseer, reverse(name), ["since", "until"])
    assert broken == []


def test_no_input_of_an_oversight_page_is_a_500(overseer):
    pages = {
        reverse("oversight:index"): ["q", "plan", "key", "failing", "page"],
        reverse("oversight:audit"): ["actor", "action", "workspace", "since", "until", "page"],
        reverse("oversight:audit_export"): ["actor", "workspace", "since", "until"],
    }
    broken = [(url, *b) for url, params in pages.items() for b in walk(overseer, url, params)]
    assert broken == []


def test_a_date_out_of_bounds_is_a_sentence_beside_the_list(member, workspace):
    history = reverse("posting:history", kwargs={"code": workspace.code})

    response = member.get(history, {"end": "9999-12-31", "network": "TikTok"})

    assert response.status_code == 422
    html = response.content.decode()
    assert "Enter a date between" in html and "2000" in html and "2099" in html
    assert "are left out of the list below" in html
    # The list stays, narrowed by the filter that could be read.
    assert html.count('data-testid="post-row"') == 1
    assert 'value="9999-12-31"' in html  # what was typed stays in its field
    assert (
        member.get(history, {"end": "9999-12-31", "network": "X"})
        .content.decode()
        .count('data-testid="post-row"')
        == 0
    )


@pytest.mark.parametrize(
    ("name", "param", "value"),
    [
        ("posting:calendar", "month", "9999-12"),
        ("posting:calendar", "month", "0000-01"),  # year 0: no date at all, was a 500
        ("posting:calendar_week", "date", "0001-01-01"),
    ],
)
def test_a_calendar_date_out_of_bounds_shows_today_and_says_why(
    member, workspace, name, param, value
):
    from django.utils import timezone

    response = member.get(reverse(name, kwargs={"code": workspace.code}), {param: value})

    assert response.status_code == 422
    html = response.content.decode()
    assert 'data-testid="calendar-problem"' in html and "Enter a date between" in html
    # The bounds read as every date of the app does ("1 Jan 2000"), not "Jan. 1, 2000".
    assert "1 Jan 2000 and 31 Dec 2099" in html
    assert f'data-date="{timezone.localdate():%Y-%m-%d}"' in html
    problem = html.split('data-testid="calendar-problem">')[1].split("</p>")[0]
    assert len(problem) < 300  # what was typed is quoted back short


def test_an_audit_date_out_of_bounds_is_a_sentence_and_the_log_stays(overseer):
    for name in ("oversight:audit", "oversight:audit_export"):
        response = overseer.get(reverse(name), {"until": "9999-12-31", "action": "member.invited"})
        assert response.status_code == 422, name
        html = response.content.decode()
        assert "Enter a date between" in html
        assert "Member invited" in html  # the event the valid filter keeps


def _compose_form(workspace, **fields):
    from posting.sending.forms import ComposeForm

    platform = workspace.platforms.first() or make_platforms(workspace, ["TikTok"])["TikTok"]
    data = {
        "token": "5b0b6e4e-8a43-4a5e-9d9e-6c1c1f3a8c11",
        "platforms": [platform.pk],
        "description": "hello",
        "when": ComposeForm.WHEN_LATER,
        "scheduled_at": "2030-01-01T10:00",
        "cover_second": "0",
        **fields,
    }
    from django.core.files.uploadedfile import SimpleUploadedFile

    return ComposeForm(data, {"video": SimpleUploadedFile("v.mp4", b"x")}, workspace=workspace)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("typed", ["9999-12-31T23:59", "0001-01-01T00:00", "1999-12-31T23:59"])
def test_the_compose_form_refuses_a_schedule_time_out_of_bounds_with_a_sentence(
    zone, typed, workspace, settings
):
    """On main 9999-12-31T23:59 typed in UTC−12 passed the form and overflowed later."""
    from django.utils import timezone

    with timezone.override(zone):
        form = _compose_form(workspace, scheduled_at=typed)
        assert not form.is_valid()
    assert "between" in " ".join(form.errors["scheduled_at"])


def test_the_compose_form_refuses_a_time_past_the_scheduling_horizon(workspace, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.POST_SCHEDULE_MAX_DAYS = 30
    late = timezone.localtime() + timedelta(days=31)
    form = _compose_form(workspace, scheduled_at=late.strftime("%Y-%m-%dT%H:%M"))
    assert not form.is_valid()
    assert form.errors["scheduled_at"] == ["Choose a time within the next 30 days."]
    soon = timezone.localtime() + timedelta(days=29)
    form = _compose_form(workspace, scheduled_at=soon.strftime("%Y-%m-%dT%H:%M"))
    form.is_valid()
    assert "scheduled_at" not in form.errors


@pytest.mark.parametrize("typed", ["1e308", "90.5", "inf", "NaN", "-1"])
def test_the_compose_form_bounds_the_cover_second(typed, workspace):
    form = _compose_form(workspace, cover_second=typed)
    assert not form.is_valid()
    assert form.errors["cover_second"]


@pytest.mark.parametrize(
    ("name", "param", "value", "sentence"),
    [
        ("posting:calendar_week", "date", "2026-02-30", "“2026-02-30” is not a date"),
        ("posting:calendar_week", "date", "x" * 5000, "“xxxxxxxxxxxxxxxxxxxx…” is not a date"),
        ("posting:calendar", "month", "2026-13", "“2026-13” is not a month"),
        ("posting:calendar", "month", "May", "“May” is not a month"),
    ],
)
def test_a_calendar_value_that_is_no_date_at_all_says_so_not_the_bounds(
    member, workspace, name, param, value, sentence
):
    """2026-02-30 is within the bounds; naming them ("Enter a date between…") misleads."""
    from django.utils import timezone

    response = member.get(reverse(name, kwargs={"code": workspace.code}), {param: value})

    assert response.status_code == 422
    html = response.content.decode()
    problem = html.split('data-testid="calendar-problem">')[1].split("</p>")[0]
    assert sentence in problem
    assert "Enter a date between" not in problem
    assert f'data-date="{timezone.localdate():%Y-%m-%d}"' in html


def test_the_schedule_input_carries_its_horizon_so_the_browser_refuses_before_the_upload(
    workspace, settings
):
    """A time past the horizon was refused only after the whole video had been uploaded."""
    from datetime import timedelta

    from django.utils import timezone

    settings.POST_SCHEDULE_MAX_DAYS = 30
    widget = str(_compose_form(workspace)["scheduled_at"])
    now = timezone.localtime()
    assert f'max="{now + timedelta(days=30):%Y-%m-%d}T' in widget
