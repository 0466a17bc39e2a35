"""Staff oversight: every workspace's health, failures across clients read as incidents, quota
pressure and shared keys, audit search with a CSV of exactly the filtered rows and no secrets;
every page in a fixed number of queries for 5 and for 500 workspaces; 404 for anyone else."""

from __future__ import annotations

import csv
import io
import re
import secrets
from datetime import timedelta

import pytest
from django.urls import URLPattern, get_resolver, reverse
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditEvent, Membership, TaislyConnection, User, Workspace
from oversight import queries
from posting.models import Post, TaislyRequest
from tests.posting.factories import make_platforms, make_post
from tests.posting.health_fixtures import grow

pytestmark = pytest.mark.django_db

KEY_LIKE = re.compile(r"taisly_[0-9a-f]{16,}")


def _oversight_urls() -> list[str]:
    resolver = get_resolver().url_patterns
    urls = []
    for pattern in resolver:
        if getattr(pattern, "namespace", None) == "oversight":
            for p in pattern.url_patterns:
                assert isinstance(p, URLPattern)
                urls.append(reverse(f"oversight:{p.name}"))
    return urls


def test_every_oversight_url_is_a_404_for_everyone_but_staff(alice, bob, vera, charlie, login):
    urls = _oversight_urls()
    assert len(urls) >= 6
    for user in (alice, bob, vera, charlie):
        client = login(user)
        for url in urls:
            assert client.get(url).status_code == 404, (user, url)


def test_staff_see_every_workspace(staff, alice, charlie, workspace, login):
    grow(7, owner=charlie)
    response = login(staff).get(reverse("oversight:index"))
    assert response.status_code == 200
    assert response.context["page"].paginator.count == Workspace.objects.count()
    page = response.content.decode()
    for w in Workspace.objects.all():
        assert reverse("accounts:workspace", kwargs={"code": w.code}) in page
    assert "charlie@example.test" in page  # the owner column


def test_the_health_filters(staff, alice, workspace, login):
    now = timezone.now()
    TaislyConnection.objects.create(
        workspace=workspace, plan="PRO", status="invalid", blocked_until=now + timedelta(hours=1)
    )
    make_post(workspace, make_platforms(workspace, ["X"]), {"X": "FAILED:CODE"})
    client = login(staff)

    def names(query: str) -> set[str]:
        return {
            w.name for w in client.get(reverse("oversight:index") + query).context["workspaces"]
        }

    assert names("?plan=PRO") == {"Acme"}
    assert names("?key=invalid") == {"Acme"}
    assert "Acme" not in names("?key=none") and "Staff" in names("?key=none")
    assert names("?failing=on") == {"Acme"}
    assert names("?blocked=on") == {"Acme"}
    assert names("?stale=on") == set()  # invalid keys are not synced: not "stale"
    assert names("?q=alice@example") == {"Acme", "Alice"}
    assert names(f"?q={workspace.code}") == {"Acme"}
    bad = client.get(reverse("oversight:index") + "?plan=GOLD&q=acme")
    assert bad.status_code == 422 and "Select a valid choice" in bad.content.decode()
    assert {w.name for w in bad.context["workspaces"]} == {"Acme"}  # the valid filter holds


def test_the_failures_feed_groups_by_code_and_network(staff, charlie, login):
    now = timezone.now()
    clients = grow(4, owner=charlie, prefix="Feed")
    for w in clients[:3]:
        platforms = make_platforms(w, ["Instagram", "X"])
        make_post(w, platforms, {"Instagram": "FAILED:MEDIA_REJECTED", "X": "SUCCESS"})
    make_post(clients[3], make_platforms(clients[3], ["X"]), {"X": "FAILED:DESCRIPTION_TOO_LONG"})
    stuck = make_post(
        clients[3],
        make_platforms(clients[3], ["YouTube"]),
        {"YouTube": "PENDING"},
        due_at=now - timedelta(hours=2),
    )
    Post.objects.filter(pk=stuck.pk).update(due_at=now - timedelta(hours=2))

    groups = {(g["network"], g["code"]): g for g in queries.failure_groups(now=timezone.now())}
    instagram = groups[("Instagram", "MEDIA_REJECTED")]
    assert (instagram["day"], instagram["hour"], instagram["workspaces_day"]) == (3, 3, 3)
    assert instagram["incident"] is True
    assert groups[("X", "DESCRIPTION_TOO_LONG")]["incident"] is False
    assert groups[("YouTube", "STUCK")]["kind"] == "stuck"
    # grow() failed one TikTok post in each of the 4 workspaces just now: the biggest incident.
    assert groups[("TikTok", "BULK")]["workspaces_hour"] == 4
    order = [(g["network"], g["code"]) for g in queries.failure_groups(now=timezone.now())]
    assert order[:2] == [("TikTok", "BULK"), ("Instagram", "MEDIA_REJECTED")]

    page = login(staff).get(reverse("oversight:failures")).content.decode()
    second_group = page.split('data-testid="failure-group"')[2]
    assert "Instagram" in second_group and 'data-testid="incident"' in second_group
    feed = page.split('data-testid="failure-feed"')[1]
    assert "MEDIA_REJECTED" in feed and 'data-kind="stuck"' in feed
    assert "Feed" in feed


def test_quota_pressure_and_shared_keys(staff, alice, charlie, workspace, login):
    now = timezone.now()
    busy = TaislyConnection.objects.create(workspace=workspace, key_fingerprint="fp-busy")
    TaislyRequest.objects.bulk_create(
        TaislyRequest(connection=busy, fingerprint="fp-busy", endpoint="history", status=200)
        for _ in range(45)
    )
    calm, limited = grow(2, owner=charlie, prefix="Quota")
    TaislyRequest.objects.create(
        connection=limited.taisly_connection,
        fingerprint=limited.taisly_connection.key_fingerprint,
        endpoint="history",
        status=429,
        started_at=now - timedelta(hours=5),
    )
    TaislyConnection.objects.filter(workspace=calm).update(key_fingerprint="fp-busy")

    pressure = {c.workspace.name for c in queries.quota_pressure(now=timezone.now())}
    assert pressure == {"Acme", limited.name, calm.name}
    shared = queries.shared_keys()
    assert len(shared) == 1 and shared[0]["count"] == 2
    assert {c.workspace.name for c in shared[0]["connections"]} == {"Acme", calm.name}
    page = login(staff).get(reverse("oversight:quota")).content.decode()
    assert "fp-busy"[:12] in page and "fp-busy-full" not in page


@pytest.fixture
def events(alice, bob, charlie, workspace):
    other = Workspace.objects.get(kind="personal", memberships__user=charlie)
    key = "taisly_" + secrets.token_hex(32)
    rows = [
        audit_record(workspace=workspace, actor=alice, action="member.invited", target="a1"),
        audit_record(workspace=workspace, actor=bob, action="member.invited", target="b1"),
        audit_record(workspace=workspace, actor=alice, action="key.connected", target=key),
        audit_record(workspace=other, actor=charlie, action="member.invited", target="c1"),
    ]
    # Written around audit_record's scrubber, as an old row might be: the export scrubs too.
    AuditEvent.objects.create(
        workspace=workspace,
        workspace_name="Acme",
        actor_email="alice@example.test",
        action="key.regenerated",
        target=key,
        details={"note": f"old {key}"},
    )
    old = audit_record(workspace=workspace, actor=alice, action="member.invited", target="old")
    AuditEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    return rows, key


def _csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body))), body


def test_the_audit_search_and_its_csv_hold_exactly_the_filtered_rows(events, staff, login):
    _rows, key = events
    client = login(staff)
    since = (timezone.localdate() - timedelta(days=1)).isoformat()
    query = f"?actor=alice@&action=member.invited&workspace=acm&since={since}"
    page = client.get(reverse("oversight:audit") + query)
    assert [e.target for e in page.context["page"].object_list] == ["a1"]

    response = client.get(reverse("oversight:audit_export") + query)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows, _body = _csv(response)
    assert [(r["actor"], r["action"], r["target"]) for r in rows] == [
        ("alice@example.test", "member.invited", "a1")
    ]

    everything, body = _csv(client.get(reverse("oversight:audit_export")))
    assert len(everything) == AuditEvent.objects.count()
    assert key not in body and not KEY_LIKE.search(body)
    assert "taisly_…" in body  # the hint stands in for the key


def test_the_csv_neutralises_cells_a_spreadsheet_would_run_as_formulas(staff, alice, login):
    # A workspace's owner names it; an audit target or detail may hold whatever a user typed.
    evil = Workspace.objects.create(name='=HYPERLINK("https://evil.example","Open")')
    audit_record(
        workspace=evil, actor=alice, action="member.invited", target="+1+cmd|' /C calc'!A0"
    )
    AuditEvent.objects.create(
        workspace=evil,
        workspace_name=evil.name,
        actor_email="@SUM(1+1)",
        action="member.invited",
        target="-2+3",
        ip=None,
    )
    for i, start in enumerate(("\t=1+1", "\r=1+1")):
        AuditEvent.objects.create(
            workspace=evil, workspace_name=start, actor_email=f"x{i}", action="member.invited"
        )
    export = reverse("oversight:audit_export") + f"?workspace={evil.code}"
    rows, _body = _csv(login(staff).get(export))
    cells = [value for row in rows for value in row.values()]
    assert len(rows) == 4
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    by_target = {r["target"]: r for r in rows}
    assert "'+1+cmd|' /C calc'!A0" in by_target
    assert by_target["'-2+3"]["actor"] == "'@SUM(1+1)"
    assert {r["workspace"] for r in rows} == {
        "'" + evil.name,
        "'\t=1+1",
        "'\r=1+1",
    }
    # An ordinary cell is left as it was.
    assert all(r["action"] == "member.invited" and r["created_at"][:2] == "20" for r in rows)


def test_a_bad_date_range_is_a_sentence_not_a_file(staff, login):
    client = login(staff)
    query = "?since=2026-05-02&until=2026-05-01"
    for name in ("oversight:audit", "oversight:audit_export"):
        response = client.get(reverse(name) + query)
        assert response.status_code == 422
        assert "The end date is before the start date." in response.content.decode()
    assert client.get(reverse("oversight:audit") + "?since=yesterday").status_code == 422


def test_a_reversed_date_range_says_why_and_the_log_stays(staff, alice, workspace, login):
    """since after until: no day is between them, so both are left out and the page says so,
    rather than an empty list saying "Nothing recorded yet." """
    audit_record(workspace=workspace, actor=alice, action="member.invited", target="kept")
    for name in ("oversight:audit", "oversight:audit_export"):
        response = login(staff).get(reverse(name), {"since": "2026-12-31", "until": "2026-01-01"})
        assert response.status_code == 422, name
        html = response.content.decode()
        assert "From is after To, so no day is between them" in html
        assert "Nothing recorded yet." not in html
        assert "kept" in [e.target for e in response.context["page"].object_list]


def test_filters_that_match_nothing_say_so_with_a_way_back(staff, alice, workspace, login):
    audit_record(workspace=workspace, actor=alice, action="member.invited", target="x")
    client = login(staff)
    html = client.get(reverse("oversight:audit"), {"actor": "nobody@"}).content.decode()
    assert "Nothing recorded yet." not in html
    assert "Nothing matches these filters." in html
    assert f'<a href="{reverse("oversight:audit")}">Clear filters</a>' in html
    AuditEvent.objects.all().delete()
    html = client.get(reverse("oversight:audit")).content.decode()
    assert "Nothing recorded yet." in html and "Nothing matches these filters." not in html


@pytest.fixture
def populated_oversight(staff, alice, charlie, workspace):
    def to(total: int) -> None:
        grow(total - Workspace.objects.filter(name__startswith="Client ").count(), owner=charlie)
        audit_record(workspace=workspace, actor=alice, action="member.invited", target="x")
        # Two more connections hold one key, so the shared keys' holders are read too.
        ids = TaislyConnection.objects.order_by("-pk").values_list("pk", flat=True)[:2]
        TaislyConnection.objects.filter(pk__in=list(ids)).update(key_fingerprint=f"fp-{total}")

    return to


# Each page's queries, the same for 5 and for 500 workspaces:
#   index:    session, user, keys shared by several workspaces (their staleness), count, page
#             of workspaces with every figure, sparklines, navigation
#   failures: session, user, failed results, stuck results, unsent posts, groups by code and
#             network, stuck by network, navigation
#   quota:    session, user, pressured connections, shared fingerprints, their holders, navigation
#   charts:   session, user, busiest connections, posts per day, results per network,
#             requests per hour, navigation
#   audit:    session, user, count, page of events, navigation
PINNED = {
    "oversight:index": 7,
    "oversight:failures": 8,
    "oversight:quota": 6,
    "oversight:charts": 7,
    "oversight:audit": 5,
}


def test_every_oversight_page_runs_the_same_queries_for_5_and_500_workspaces(
    populated_oversight, staff, login, django_assert_num_queries
):
    client = login(staff)
    for total in (5, 500):
        populated_oversight(total)
        for name, count in PINNED.items():
            with django_assert_num_queries(count, info=f"{name} with {total} workspaces"):
                assert client.get(reverse(name)).status_code == 200, name
    # And the export streams: session, user, then the rows in chunks (a few hundred rows: one).
    with django_assert_num_queries(3):
        _csv(client.get(reverse("oversight:audit_export")))
    assert Membership.objects.filter(user__email="charlie@example.test").count() >= 500
    assert User.objects.filter(is_staff=True).count() == 1
