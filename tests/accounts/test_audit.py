from __future__ import annotations

from django.urls import reverse

from accounts.audit import AUDIT_PAGE_SIZE, audit_record
from accounts.models import AuditEvent, Membership, TaislyConnection, Workspace


def _audit_url(workspace) -> str:
    return reverse("accounts:audit", kwargs={"code": workspace.code})


def test_owners_see_their_workspaces_log_and_nothing_else(alice, charlie, workspace, login):
    audit_record(workspace=workspace, actor=alice, action="member.invited", target="x@acme.test")
    other = Workspace.objects.get(kind="personal", memberships__user=charlie)
    audit_record(workspace=other, actor=charlie, action="workspace.renamed", target="secret-name")
    text = login(alice).get(_audit_url(workspace)).content.decode()
    assert "x@acme.test" in text and "Member invited" in text
    assert "secret-name" not in text


def test_the_log_is_paginated_with_a_fixed_number_of_queries(
    alice, workspace, login, django_assert_num_queries
):
    AuditEvent.objects.bulk_create(
        AuditEvent(workspace=workspace, action="member.invited", target=f"p{i}@example.test")
        for i in range(AUDIT_PAGE_SIZE + 5)
    )
    client = login(alice)
    client.get(_audit_url(workspace))
    # 1 session, 2 user, 3 the user's memberships with their workspaces (access and
    # navigation), 4 count, 5 page of events.
    with django_assert_num_queries(5):
        first = client.get(_audit_url(workspace))
    assert first.content.decode().count("@example.test</td>") == AUDIT_PAGE_SIZE
    assert b"Page 1 of 2" in first.content
    second = client.get(_audit_url(workspace) + "?page=2")
    assert b"Page 2 of 2" in second.content


def test_staff_see_a_workspace_log_too(staff, workspace, login):
    assert login(staff).get(_audit_url(workspace)).status_code == 200


def test_oversight_lists_every_workspace_with_members_and_key_state(
    alice, bob, charlie, staff, workspace, login
):
    TaislyConnection.objects.create(workspace=workspace, key_hint="taisly_…a1b2", plan="PRO")
    response = login(staff).get(reverse("oversight:index"))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Acme" in text and "taisly_…a1b2" in text and "Pro" in text
    assert "Not connected" in text  # the personal workspaces
    assert "Charlie" in text  # charlie's personal workspace is listed too
    rows = response.context["workspaces"]
    assert {w.name: w.members_count for w in rows}["Acme"] == 2


def test_oversight_index_has_a_fixed_number_of_queries(
    staff, alice, workspace, login, django_assert_num_queries
):
    client = login(staff)
    client.get(reverse("oversight:index"))
    # 1 session, 2 user, 3 keys shared by several workspaces (their staleness), 4 count, 5 the
    # page of workspaces with every health figure, 6 their sparklines, 7 navigation memberships.
    with django_assert_num_queries(7):
        client.get(reverse("oversight:index"))


def test_oversight_audit_shows_every_workspace_and_filters_by_one(
    staff, alice, charlie, workspace, login
):
    other = Workspace.objects.get(kind="personal", memberships__user=charlie)
    audit_record(workspace=workspace, actor=alice, action="member.invited", target="in-acme")
    audit_record(workspace=other, actor=charlie, action="workspace.renamed", target="in-other")
    client = login(staff)
    everything = client.get(reverse("oversight:audit")).content.decode()
    assert "in-acme" in everything and "in-other" in everything
    only = client.get(reverse("oversight:audit") + f"?workspace={workspace.code}")
    assert b"in-acme" in only.content and b"in-other" not in only.content
    bogus = client.get(reverse("oversight:audit") + "?workspace=nonsense")
    assert bogus.status_code == 200
    assert b"in-acme" not in bogus.content


def test_oversight_keeps_the_events_of_deleted_workspaces(staff, alice, workspace, login):
    login(alice).post(
        reverse("accounts:workspace_delete", kwargs={"code": workspace.code}),
        {"confirm_name": "Acme"},
    )
    text = login(staff).get(reverse("oversight:audit")).content.decode()
    assert "Workspace deleted" in text and "deleted</span>" in text


def test_oversight_is_a_404_for_everyone_but_staff(alice, bob, vera, charlie, login):
    for user in (alice, bob, vera, charlie):
        client = login(user)
        assert client.get(reverse("oversight:index")).status_code == 404
        assert client.get(reverse("oversight:audit")).status_code == 404


def test_oversight_asks_anonymous_visitors_to_log_in(client, db):
    response = client.get(reverse("oversight:index"))
    assert response.status_code == 302


def test_oversight_pages_only_answer_get(staff, login):
    client = login(staff)
    assert client.post(reverse("oversight:index")).status_code == 405
    assert client.post(reverse("oversight:audit")).status_code == 405


def test_the_navigation_links_to_oversight_only_for_staff(staff, alice, login):
    assert b"/oversight/" in login(staff).get(reverse("home")).content
    assert b"/oversight/" not in login(alice).get(reverse("home")).content


def test_roles_in_the_log_are_shown_in_words(alice, vera, workspace, login):
    client = login(alice)
    membership = vera.memberships.get(workspace=workspace)
    client.post(
        reverse(
            "accounts:member_role", kwargs={"code": workspace.code, "member_code": membership.code}
        ),
        {"role": "editor"},
    )
    assert "(Viewer → Editor)" in client.get(_audit_url(workspace)).content.decode()


def test_the_oversight_pages_have_a_fixed_number_of_queries_whatever_the_row_count(
    staff, alice, charlie, workspace, login, django_assert_num_queries
):
    def grow():
        for i in range(3):
            extra = Workspace.objects.create(name=f"Client {i}")
            Membership.objects.create(workspace=extra, user=charlie, role="owner")
            TaislyConnection.objects.create(workspace=extra, key_hint=f"taisly_…{i:04d}")
            audit_record(workspace=extra, actor=charlie, action="workspace.renamed", target="x")

    client = login(staff)
    audit_record(workspace=workspace, actor=alice, action="member.invited", target="y")
    grow()
    client.get(reverse("oversight:index"))
    for _ in range(2):
        # 1 session, 2 user, 3 keys shared by several workspaces, 4 count, 5 the page of
        # workspaces with every health figure, 6 their sparklines, 7 navigation memberships.
        with django_assert_num_queries(7):
            client.get(reverse("oversight:index"))
        # 1 session, 2 user, 3 count, 4 page of events with their workspaces, 5 navigation.
        with django_assert_num_queries(5):
            client.get(reverse("oversight:audit"))
        # The same, narrowed to one workspace in the same queries.
        with django_assert_num_queries(5):
            client.get(reverse("oversight:audit") + f"?workspace={workspace.code}")
        grow()


def test_an_event_with_lists_in_its_details_reads_in_words(alice, staff, workspace, login):
    """A repost rule's audit event names its targets as a list: the logs list it, not a 500."""
    audit_record(
        workspace=workspace,
        actor=alice,
        action=AuditEvent.Action.REPOST_ADDED,
        target="rule-1",
        details={"from": "TikTok @shop", "to": ["Instagram @shop", "X @shop"]},
    )

    for client, url in (
        (login(alice), _audit_url(workspace)),
        (login(staff), reverse("oversight:audit")),
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert "TikTok @shop → Instagram @shop, X @shop" in response.content.decode()


def test_review_events_say_who_decided_at_which_stage_and_workflows_in_words(
    alice, workspace, login
):
    code = "d-1"
    audit_record(
        workspace=workspace,
        actor=None,
        action=AuditEvent.Action.REVIEW_APPROVED,
        target=code,
        details={"draft": code, "stage": "client", "address": "client@brand.test", "final": True},
    )
    audit_record(
        workspace=workspace,
        actor=alice,
        action=AuditEvent.Action.REVIEW_APPROVED,
        target=code,
        details={"draft": code, "stage": "internal", "final": False},
    )
    audit_record(
        workspace=workspace,
        actor=alice,
        action=AuditEvent.Action.WORKSPACE_APPROVAL_WORKFLOW,
        details={"from": "none", "to": "internal_client"},
    )
    text = login(alice).get(_audit_url(workspace)).content.decode()
    assert "client@brand.test (review link)" in text
    assert "Approved for the client" in text and "Approved (internal review)" in text
    assert "No review → Internal, then the client" in text
    assert "internal_client" not in text
