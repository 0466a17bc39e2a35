"""The failure inbox across clients (/failures/, posting.reporting.failures): every failed post of
the person's workspaces, not looked at yet first, filtered by workspace and by "not looked at";
outsiders' and two-factor-locked workspaces never shown; a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Workspace
from posting.models import Post, PostResult
from tests.posting.factories import make_platforms, make_post

pytestmark = pytest.mark.django_db

INBOX = "failure_inbox"


def entries(page: str) -> list[str]:
    """Each entry's markup, in page order."""
    return page.split('data-testid="failure-entry"')[1:]


@pytest.fixture
def second(alice) -> Workspace:
    other = Workspace.objects.create(name="Batik", kind=Workspace.Kind.CLIENT)
    Membership.objects.create(workspace=other, user=alice, role=Membership.Role.EDITOR)
    return other


def test_failures_of_every_workspace_unseen_first_with_reasons_and_links(
    workspace, second, alice, charlie, login
):
    now = timezone.now()
    acme = make_platforms(workspace, ["TikTok", "X"])
    batik = make_platforms(second, ["Instagram"])
    seen = make_post(
        workspace,
        acme,
        {"X": "FAILED:DESCRIPTION_TOO_LONG"},
        description="Seen long ago",
        due_at=now - timedelta(hours=1),
    )
    PostResult.objects.filter(post=seen).update(seen_at=now)
    make_post(
        second,
        batik,
        {"Instagram": "FAILED:PLATFORM_DISCONNECTED"},
        description="Batik sale",
        due_at=now - timedelta(days=3),
    )
    make_post(workspace, acme, {"TikTok": "SUCCESS"}, description="All went well")
    # An outsider's workspace with a failure of its own never appears.
    elsewhere = Workspace.objects.create(name="Not yours", kind=Workspace.Kind.CLIENT)
    Membership.objects.create(workspace=elsewhere, user=charlie, role=Membership.Role.OWNER)
    make_post(
        elsewhere,
        make_platforms(elsewhere, ["TikTok"]),
        {"TikTok": "FAILED:X"},
        description="Secret failure",
    )

    page = login(alice).get(reverse(INBOX)).content.decode()
    listed = entries(page)
    assert len(listed) == 2
    # Not looked at yet comes first though it went out earlier.
    assert "Batik sale" in listed[0] and 'data-unseen="true"' in listed[0]
    assert "Seen long ago" in listed[1] and 'data-unseen="false"' in listed[1]
    assert "This social account is disconnected in Taisly" in listed[0]
    assert "longer than this network allows" in listed[1]
    assert "Batik" in listed[0] and "Acme" in listed[1]  # each entry names its workspace
    assert (
        reverse(
            "posting:post",
            kwargs={
                "code": second.code,
                "post_code": Post.objects.get(description="Batik sale").code,
            },
        )
        in listed[0]
    )
    assert "All went well" not in page
    assert "Secret failure" not in page and "Not yours" not in page
    assert "1 failed platform nobody has looked at yet" in page

    # The outsider sees only their own.
    theirs = login(charlie).get(reverse(INBOX)).content.decode()
    assert "Secret failure" in theirs and "Batik sale" not in theirs


def test_filters_by_workspace_and_by_not_looked_at(workspace, second, alice, login):
    acme = make_platforms(workspace, ["TikTok"])
    batik = make_platforms(second, ["TikTok"])
    make_post(workspace, acme, {"TikTok": "FAILED:X"}, description="Acme fail")
    looked = make_post(second, batik, {"TikTok": "FAILED:X"}, description="Batik looked")
    PostResult.objects.filter(post=looked).update(seen_at=timezone.now())
    client = login(alice)

    page = client.get(reverse(INBOX), {"w": str(second.code)}).content.decode()
    assert [("Batik looked" in e) for e in entries(page)] == [True]
    page = client.get(reverse(INBOX), {"show": "unseen"}).content.decode()
    assert [("Acme fail" in e) for e in entries(page)] == [True]
    page = client.get(reverse(INBOX), {"w": str(second.code), "show": "unseen"})
    assert entries(page.content.decode()) == []

    # A workspace that is not the person's is named as a bad choice; the list stays, unnarrowed.
    stranger = Workspace.objects.create(name="Stranger", kind=Workspace.Kind.CLIENT)
    response = client.get(reverse(INBOX), {"w": str(stranger.code)})
    assert response.status_code == 422
    page = response.content.decode()
    assert 'data-testid="filter-errors"' in page and len(entries(page)) == 2


def test_a_caption_group_is_one_entry_as_its_lead(workspace, alice, login):
    platforms = make_platforms(workspace, ["TikTok", "X"])
    lead = make_post(
        workspace,
        platforms,
        {"TikTok": "FAILED:SANDBOX_FORCED_FAILURE"},
        description="Lead caption",
    )
    make_post(
        workspace,
        platforms,
        {"X": "FAILED:DESCRIPTION_TOO_LONG"},
        description="Short for X",
        group=lead,
    )
    page = login(alice).get(reverse(INBOX)).content.decode()
    (entry,) = entries(page)
    assert "Lead caption" in entry and "Short for X" not in entry
    assert entry.count('data-testid="failure-network"') == 2
    # The same count as the overview: two failed platforms not looked at yet.
    assert "2 failed platforms nobody has looked at yet" in page


def test_the_count_matches_the_agency_overview(workspace, second, alice, login):
    acme = make_platforms(workspace, ["TikTok", "X"])
    make_post(workspace, acme, {"TikTok": "FAILED:X", "X": "FAILED:Y"})
    client = login(alice)
    home = client.get(reverse("home")).content.decode()
    assert "2 failures not looked at yet" in home
    assert reverse(INBOX) in home  # linked from the overview
    page = client.get(reverse(INBOX)).content.decode()
    assert "2 failed platforms nobody has looked at yet" in page


def test_a_two_factor_workspace_is_locked_without_two_factor(workspace, alice, login):
    from allauth.mfa.totp.internal.auth import TOTP

    locked = Workspace.objects.create(name="Client Locked", require_2fa=True)
    Membership.objects.create(workspace=locked, user=alice, role=Membership.Role.OWNER)
    make_post(
        locked,
        make_platforms(locked, ["TikTok"]),
        {"TikTok": "FAILED:X"},
        description="Locked failure",
    )
    client = login(alice)
    page = client.get(reverse(INBOX)).content.decode()
    assert "Locked failure" not in page
    row = page.split('data-testid="failures-workspace-locked"')[1].split("</p>")[0]
    assert "Client Locked" in row and "Set up two-factor to see this workspace" in row
    # Ticking it by hand does not open it either.
    response = client.get(reverse(INBOX), {"w": str(locked.code)})
    assert response.status_code == 422 and "Locked failure" not in response.content.decode()

    TOTP.activate(alice, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    assert "Locked failure" in client.get(reverse(INBOX)).content.decode()


@pytest.mark.parametrize("workspaces,posts", [(1, 1), (6, 40)])
def test_a_fixed_number_of_queries(alice, login, django_assert_num_queries, workspaces, posts):
    for i in range(workspaces):
        w = Workspace.objects.create(name=f"Client {i}", kind=Workspace.Kind.CLIENT)
        Membership.objects.create(workspace=w, user=alice, role=Membership.Role.OWNER)
        platforms = make_platforms(w, ["TikTok", "X"])
        for j in range(posts // workspaces):
            lead = make_post(w, platforms, {"TikTok": "FAILED:X"}, description=f"P{i}-{j}")
            make_post(w, platforms, {"X": "FAILED:Y"}, group=lead)
    client = login(alice)
    # 1 session, 2 user, 3 memberships (the filters and the navigation), 4 the page's count,
    # 5 the page's posts, 6 their failed results, 7 the unseen count per workspace.
    with django_assert_num_queries(7):
        response = client.get(reverse(INBOX), {"show": "all"})
    assert response.status_code == 200
    assert len(entries(response.content.decode())) == min(posts, 25)
