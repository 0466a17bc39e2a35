"""The calendar: posts on the local day and hour they go out, month and week, fixed queries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Workspace
from posting.planning.selectors import calendar_days
from posting.planning.views import MONTH_PER_DAY
from tests.posting.factories import bulk_posts, make_platforms, make_post

pytestmark = pytest.mark.django_db


def month_url(workspace, month: str | None = None) -> str:
    base = reverse("posting:calendar", kwargs={"code": workspace.code})
    return f"{base}?month={month}" if month else base


def week_url(workspace, day: str | None = None) -> str:
    base = reverse("posting:calendar_week", kwargs={"code": workspace.code})
    return f"{base}?date={day}" if day else base


def day_cell(html: str, day: str) -> str:
    """A day's cell (month) or section (week, its hours inside): from its start to the next
    day's, or to the end of the calendar."""
    start = html.find(f'data-testid="calendar-day" data-date="{day}"')
    assert start != -1, f"no cell for {day}"
    end = html.find('data-testid="calendar-day"', start + 1)
    return html[start : end if end != -1 else html.index("</main>", start)]


def hour_cell(html: str, at: str) -> str:
    """A week's hour cell ("2026-03-11T03:00")."""
    match = re.search(rf'data-at="{at}"(.*?)</div>', html, re.S)
    assert match, f"no hour cell {at}"
    return match.group(1)


@pytest.fixture
def platforms(workspace):
    return make_platforms(workspace)


def test_a_post_sits_on_the_local_day_and_hour_it_goes_out(workspace, platforms, alice, login):
    alice.timezone = "Asia/Jakarta"  # UTC+7
    alice.save()
    post = make_post(
        workspace,
        platforms,
        {"TikTok": "PENDING"},
        description="Late night in UTC",
        due_at=datetime(2026, 3, 10, 20, 30, tzinfo=UTC),
    )
    client = login(alice)

    month = client.get(month_url(workspace, "2026-03")).content.decode()
    week = client.get(week_url(workspace, "2026-03-11")).content.decode()

    assert "Late night in UTC" in hour_cell(week, "2026-03-11T03:00")
    for html in (month, week):
        cell = day_cell(html, "2026-03-11")  # 03:30 on the 11th in Jakarta
        assert "03:30" in cell and "Late night in UTC" in cell
        assert (
            reverse("posting:post", kwargs={"code": workspace.code, "post_code": post.code}) in cell
        )
        assert "Late night" not in day_cell(html, "2026-03-10")
    assert "March 2026" in month
    assert "Asia/Jakarta" in month


def test_each_post_reads_as_its_results_say(workspace, platforms, alice, login):
    """The colour and label of an entry come from the post's state and its results."""
    day = datetime(2026, 4, 8, 9, 0, tzinfo=UTC)
    outcomes = {
        "Partly": ({"TikTok": "FAILED:X", "Instagram": "SUCCESS"}, {}),
        "Everywhere": ({"TikTok": "SUCCESS", "Instagram": "SUCCESS"}, {}),
        "Waiting": ({}, {}),
        "Cancelled": ({}, {"state": "cancelled"}),
    }
    for minute, (name, (results, fields)) in enumerate(outcomes.items()):
        make_post(
            workspace,
            platforms,
            results,
            description=f"{name} post",
            due_at=day + timedelta(minutes=minute),
            **fields,
        )

    cell = day_cell(
        login(alice).get(month_url(workspace, "2026-04")).content.decode(), "2026-04-08"
    )

    entries = re.findall(
        r'class="calendar-post ([^"]+)"[^>]*title="([^"]+)".*?<span>(.*?)</span>', cell
    )
    assert entries == [
        ("is-danger", "1 of 2 posted", "Partly post"),
        ("is-success", "Posted", "Everywhere post"),
        ("is-light", "Waiting for Taisly", "Waiting post"),
        ("is-dark", "Cancelled", "Cancelled post"),
    ]


def test_previous_next_and_today(workspace, alice, login):
    client = login(alice)

    month = client.get(month_url(workspace, "2026-01")).content.decode()
    week = client.get(week_url(workspace, "2026-01-01")).content.decode()  # a Thursday

    assert "?month=2025-12" in month and "?month=2026-02" in month
    assert f"?month={timezone.localdate():%Y-%m}" in month
    assert "29 Dec – 4 Jan 2026" in week
    assert "?date=2025-12-22" in week and "?date=2026-01-05" in week


def test_unreadable_dates_fall_back_to_today_and_say_so(workspace, alice, login):
    client = login(alice)
    today = timezone.localdate()

    for address, sentence in (
        (month_url(workspace, "soon"), "“soon” is not a month"),
        (month_url(workspace, "0001-01"), "the calendar can show"),  # a month, out of bounds
        (week_url(workspace, "x"), "“x” is not a date"),
    ):
        response = client.get(address)
        assert response.status_code == 422
        html = response.content.decode()
        assert f'data-date="{today:%Y-%m-%d}"' in html
        assert sentence in html


def test_a_busy_day_shows_a_few_posts_and_how_many_more(workspace, platforms, alice, login):
    moment = datetime(2026, 5, 5, 9, 0, tzinfo=UTC)
    for i in range(MONTH_PER_DAY + 3):
        make_post(
            workspace, platforms, description=f"Busy {i}", due_at=moment + timedelta(minutes=i)
        )

    html = login(alice).get(month_url(workspace, "2026-05")).content.decode()

    cell = day_cell(html, "2026-05-05")
    assert cell.count('data-testid="calendar-post"') == MONTH_PER_DAY
    assert "and 3 more" in cell
    assert "start=2026-05-05&amp;end=2026-05-05" in cell


def test_a_caption_group_is_one_entry_and_counts_once(workspace, platforms, alice, login):
    """A post with a caption per network is two Taisly posts (a lead and a member): the
    calendar shows the lead only, and the day's total counts the group once."""
    moment = datetime(2026, 7, 7, 9, 0, tzinfo=UTC)
    lead = make_post(workspace, platforms, description="Grouped lead", due_at=moment)
    make_post(workspace, platforms, description="Grouped member", due_at=moment, group=lead)
    for i in range(MONTH_PER_DAY):
        make_post(
            workspace, platforms, description=f"Other {i}", due_at=moment + timedelta(hours=1 + i)
        )
    client = login(alice)

    month = day_cell(client.get(month_url(workspace, "2026-07")).content.decode(), "2026-07-07")
    week = client.get(week_url(workspace, "2026-07-07")).content.decode()

    assert month.count('data-testid="calendar-post"') == MONTH_PER_DAY
    assert "Grouped lead" in month and "and 1 more" in month  # 1 + 4 others, not 2 + 4
    assert week.count("Grouped lead") == 1
    assert "Grouped member" not in week and "Grouped member" not in month
    assert week.count('data-testid="calendar-post"') == MONTH_PER_DAY + 1


def test_the_days_of_several_workspaces_are_read_at_once(workspace, platforms, alice):
    """calendar_days over two workspaces (the calendar across clients): one statement, each
    entry named and linked under its own workspace, the day's total summed, a third
    workspace's post never read."""
    other = Workspace.objects.create(name="Beta", kind=Workspace.Kind.CLIENT)
    third = Workspace.objects.create(name="Gamma", kind=Workspace.Kind.CLIENT)
    moment = datetime(2026, 8, 4, 9, 0, tzinfo=UTC)
    mine = make_post(workspace, platforms, description="Acme's", due_at=moment)
    theirs = make_post(
        other, make_platforms(other), description="Beta's", due_at=moment + timedelta(hours=1)
    )
    make_post(third, make_platforms(third), description="Gamma's", due_at=moment)
    day = moment.date()

    with CaptureQueriesContext(connection) as queries:
        [only] = calendar_days(
            [workspace, other], day, day, per_day=1, in_range=lambda d: True, today=day
        )

    assert len(queries) == 2  # the posts, the drafts
    assert only["total"] == 2 and only["more"] == 1
    [entry] = only["entries"]
    assert (entry["text"], entry["workspace_name"]) == ("Acme's", "Acme")
    assert entry["url"] == reverse(
        "posting:post", kwargs={"code": workspace.code, "post_code": mine.code}
    )
    [both] = calendar_days(
        [workspace, other], day, day, per_day=4, in_range=lambda d: True, today=day
    )
    assert [(e["text"], e["workspace_code"]) for e in both["entries"]] == [
        ("Acme's", str(workspace.code)),
        ("Beta's", str(other.code)),
    ]
    assert both["entries"][1]["url"] == reverse(
        "posting:post", kwargs={"code": other.code, "post_code": theirs.code}
    )


def test_an_empty_month_says_so(workspace, alice, login):
    html = login(alice).get(month_url(workspace, "2020-02")).content.decode()

    assert "No posts go out this month." in html


@pytest.mark.parametrize("count", [10, 10_000])
def test_the_query_count_does_not_grow_with_the_posts(
    workspace, platforms, alice, login, django_assert_num_queries, count
):
    bulk_posts(workspace, platforms, count)
    client = login(alice)

    for address in (month_url(workspace), week_url(workspace)):
        # 1 session, 2 user, 3 the user's memberships (access and navigation), 4 the first
        # posts of each day with the day's total and their results' statuses, 5 the drafts,
        # 6 the posting slots (none here: no query for the posts at their times).
        with django_assert_num_queries(6):
            response = client.get(address)
        assert response.status_code == 200
        assert 'data-testid="calendar-post"' in response.content.decode()


@pytest.mark.postgres_only
def test_the_days_are_read_from_the_partial_index_of_leads(workspace, platforms, alice, login):
    """Each day's posts and total come from ``post_lead_due_idx`` (workspace, due_at, id where
    the post leads its group): the statement's ``group_id IS NULL`` must match the index's
    condition, or PostgreSQL reads the whole (workspace, due_at) range, members and all. Sequential
    scans are turned off so the plan says which index the statement can use, not what a small
    test table makes cheapest."""
    bulk_posts(workspace, platforms, 200)
    with CaptureQueriesContext(connection) as queries:
        login(alice).get(month_url(workspace))
    [calendar] = [q["sql"] for q in queries if "LATERAL" in q["sql"]]

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {calendar}")
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert plan.count("post_lead_due_idx") == 2, plan  # the day's first posts and its total


@pytest.mark.postgres_only
def test_on_postgresql_the_days_are_read_by_one_lateral_statement(
    workspace, platforms, alice, login
):
    """The calendar has a statement for PostgreSQL (the days joined LATERALly, the results'
    statuses as an array) and one for SQLite: the tests above cover the one the suite runs on,
    and this one fails when that is not PostgreSQL, the one production runs."""
    moment = datetime(2026, 6, 3, 9, 0, tzinfo=UTC)
    for i in range(MONTH_PER_DAY + 2):
        make_post(
            workspace,
            platforms,
            {"TikTok": "SUCCESS", "Instagram": "FAILED:X"} if i == 0 else {},
            description=f"June {i}",
            due_at=moment + timedelta(minutes=i),
        )

    with CaptureQueriesContext(connection) as queries:
        html = login(alice).get(month_url(workspace, "2026-06")).content.decode()

    [calendar] = [q["sql"] for q in queries if "due_at" in q["sql"]]
    assert "CROSS JOIN LATERAL" in calendar and "array_agg" in calendar
    assert "UNION ALL" not in calendar
    cell = day_cell(html, "2026-06-03")
    assert cell.count('data-testid="calendar-post"') == MONTH_PER_DAY
    assert "and 2 more" in cell
    assert 'title="1 of 2 posted"' in cell  # the statuses array, read as the SQLite text is
