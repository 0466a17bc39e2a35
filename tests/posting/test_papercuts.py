"""Small things people met (issue 17's papercuts, the posting and oversight side): a revoked key's
hint, the webhook form's rule, oversight's stuck label and charts' ticks, the overview's times and
words about failures and alerts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import TaislyConnection
from posting.models import MirrorState, Post
from posting.reporting import charts
from tests.posting.factories import make_platforms, make_post

pytestmark = pytest.mark.django_db


# --- c. A revoked key is forgotten: its hint is not shown as if it were held -------------------


@pytest.mark.parametrize("status,hint_shown", [("active", True), ("revoked", False)])
def test_the_key_page_hides_a_revoked_keys_hint(workspace, alice, login, status, hint_shown):
    TaislyConnection.objects.create(
        workspace=workspace, key_hint="taisly_…bbf6", key_fingerprint="fp", status=status
    )
    page = login(alice).get(reverse("taisly:detail", kwargs={"code": workspace.code}))
    html = page.content.decode()
    assert ("taisly_…bbf6" in html) is hint_shown
    assert ('data-testid="key-forgotten"' in html) is not hint_shown


# --- d. The webhook form says the rule this server applies --------------------------------------


@pytest.mark.parametrize(
    "https,private,says,not_says",
    [
        (False, True, "http:// or https://; private and loopback", "must start with https://"),
        (True, False, "must start with https:// and reach a public address", "http://"),
    ],
)
def test_the_webhook_help_matches_the_settings(
    workspace, alice, login, settings, https, private, says, not_says
):
    settings.WEBHOOK_REQUIRE_HTTPS = https
    settings.WEBHOOK_ALLOW_PRIVATE = private
    page = login(alice).get(reverse("posting:webhooks", kwargs={"code": workspace.code}))
    help_text = page.content.decode().split('data-testid="webhook-form"')[1].split("</form>")[0]
    assert says in help_text and not_says not in help_text


def test_development_takes_an_http_loopback_webhook_as_its_help_says(
    workspace, alice, login, settings
):
    settings.WEBHOOK_REQUIRE_HTTPS = False
    settings.WEBHOOK_ALLOW_PRIVATE = True
    response = login(alice).post(
        reverse("posting:webhooks", kwargs={"code": workspace.code}),
        {"url": "http://127.0.0.1:9/hook", "format": "json"},
    )
    assert response.status_code == 302


# --- f. Oversight: a stuck group says so once; charts have round ticks and room for them --------


def test_a_stuck_group_reads_stuck_once(staff, workspace, login):
    now = timezone.now()
    stuck = make_post(workspace, make_platforms(workspace, ["YouTube"]), {"YouTube": "PENDING"})
    Post.objects.filter(pk=stuck.pk).update(due_at=now - timedelta(hours=2))
    page = login(staff).get(reverse("oversight:failures")).content.decode()
    groups = page.split('data-testid="failure-groups"')[1].split("</table>")[0]
    assert 'data-testid="group-stuck"' in groups and "<code>STUCK</code>" not in groups


@pytest.mark.parametrize(
    "top,ticks",
    [
        (5, [0, 1, 2, 3, 4, 5]),
        (10, [0, 5, 10]),
        (25, [0, 5, 10, 15, 20, 25]),
        (1000, [0, 500, 1000]),
    ],
)
def test_chart_ticks_are_evenly_spaced(top, ticks):
    assert charts.tick_values(top) == ticks


def test_a_four_digit_axis_has_room_for_its_labels():
    chart = charts.Chart(ident="q", title="", desc="")
    charts._axis(chart, 1000)
    # Four digits at the template's font size need more than the 30 units a one-digit axis has.
    assert chart.left >= charts.TICK_GAP + 4 * charts.DIGIT > charts.LEFT


# --- j. The overview's times and words -----------------------------------------------------------


def test_failures_not_looked_at_are_ordered_and_dated_by_when_they_went_out(
    workspace, alice, login
):
    now = timezone.now()
    platforms = make_platforms(workspace, ["TikTok"])
    for days, name in ((10, "Older post"), (1, "Newer post")):
        make_post(
            workspace,
            platforms,
            {"TikTok": "FAILED:X"},
            description=name,
            due_at=now - timedelta(days=days),
        )
    page = login(alice).get(reverse("accounts:workspace", kwargs={"code": workspace.code}))
    box = (
        page.content.decode()
        .split('data-testid="unseen-failures"')[1]
        .split('data-testid="upcoming"')[0]
    )
    assert box.index("Newer post") < box.index("Older post")
    assert box.count("went out") == 2


def test_the_overview_tells_failures_from_alerts_and_sync_from_posting(workspace, alice, login):
    TaislyConnection.objects.create(
        workspace=workspace, key_hint="taisly_…0000", key_fingerprint="f"
    )
    MirrorState.objects.create(workspace=workspace, history_synced_at=timezone.now())
    make_post(workspace, make_platforms(workspace, ["TikTok"]), {"TikTok": "FAILED:X"})
    page = login(alice).get(reverse("home")).content.decode()
    assert 'data-testid="failures-vs-alerts"' in page
    row = page.split('data-testid="health-row"')[1].split("</tr>")[0]
    # The needs tag links to the workspace's failures not looked at yet, in the inbox.
    assert f'href="{reverse("failure_inbox")}?w={workspace.code}&amp;show=unseen"' in row
    # The sync's time sits with the key, not among the times posts went out.
    went_out = row.split('data-label="Posts went out · next"')[1]
    assert "history read from Taisly" not in went_out and "history read from Taisly" in row
