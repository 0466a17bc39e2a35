"""Invitations are not a spam relay: only accounts with a confirmed address invite, and each
inviter and each invited address gets only so many invitations an hour (issue 15, item 8)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import Invitation, Membership, Workspace
from tests.personas import make_fresh, make_user, verified_user


def _invite(client, workspace, email, role="viewer"):
    url = reverse("accounts:member_invite", kwargs={"code": workspace.code})
    return client.post(url, {"email": email, "role": role})


@pytest.fixture
def unverified_owner(db):
    """A new account (its address not confirmed) that made a workspace of its own."""
    user = make_user("spammer@example.test", "Spammer")
    workspace = services.workspace_create(name="You won a prize! Click here", owner=user)
    return user, workspace


def test_an_unverified_account_sends_no_invitation_even_thirty_times(
    unverified_owner, login, mailoutbox
):
    user, workspace = unverified_owner
    client = login(user)
    for _ in range(30):
        response = _invite(client, workspace, "victim@example.test")
        assert response.status_code == 422
    assert mailoutbox == []
    assert not Invitation.objects.exists()
    assert "Only an account with a confirmed email address can send invitations" in (
        response.content.decode()
    )


def test_the_invite_form_tells_an_unverified_owner_and_offers_the_link_again(
    unverified_owner, login, mailoutbox
):
    user, workspace = unverified_owner
    client = login(user)
    url = reverse("accounts:member_invite", kwargs={"code": workspace.code})
    page = client.get(url).content.decode()
    assert 'data-testid="invite-unverified"' in page
    assert "Only an account with a confirmed email address can send invitations" in page
    assert 'name="role"' not in page  # no form that cannot work
    resend = client.post(reverse("accounts:email_verification_resend"), {"next": url}, follow=True)
    assert resend.redirect_chain[-1][0] == url
    assert [m.to for m in mailoutbox] == [[user.email]]
    assert "/confirm-email/" in mailoutbox[0].body


def test_the_service_refuses_an_unverified_inviter_inside_its_transaction(unverified_owner):
    user, workspace = unverified_owner
    request = RequestFactory().post("/")
    with pytest.raises(ValidationError) as refused:
        services.invitation_create(
            workspace=workspace,
            email="x@example.test",
            role="viewer",
            inviter=user,
            request=request,
        )
    assert refused.value.code == "unverified"


def test_a_verified_owner_invites_until_the_hourly_limit_then_gets_a_sentence(
    alice, workspace, login, mailoutbox, settings
):
    settings.INVITATIONS_PER_INVITER_PER_HOUR = 3
    client = login(alice)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for n in range(3):
            assert _invite(client, workspace, f"person{n}@example.test").status_code == 302
    with time_machine.travel(start + dt.timedelta(minutes=20), tick=False):
        # Inviting asks for a fresh password (5 minutes): given again, the limit still holds.
        refused = _invite(make_fresh(client, alice), workspace, "person3@example.test")
    assert refused.status_code == 422
    assert (
        "You have sent 3 invitations in the last hour, the most allowed. You can invite again "
        "in 40 minutes." in refused.content.decode()
    )
    assert len(mailoutbox) == 3
    # The hour passes: inviting works again.
    with time_machine.travel(start + dt.timedelta(minutes=61), tick=False):
        assert (
            _invite(make_fresh(client, alice), workspace, "person3@example.test").status_code == 302
        )
    assert len(mailoutbox) == 4


def test_one_address_gets_only_so_many_invitations_an_hour_from_anyone(
    alice, workspace, login, mailoutbox, settings
):
    settings.INVITATIONS_PER_ADDRESS_PER_HOUR = 2
    other_owner = verified_user("olga@example.test", "Olga")
    other = services.workspace_create(name="Other", owner=other_owner)
    assert _invite(login(alice), workspace, "target@example.test").status_code == 302
    assert _invite(login(other_owner), other, "TARGET@example.test").status_code == 302
    refused = _invite(login(alice), workspace, "target@example.test")
    assert refused.status_code == 422
    assert "target@example.test has had as many invitations in the last hour as allowed" in (
        refused.content.decode()
    )
    assert [m.to for m in mailoutbox] == [["target@example.test"]] * 2
    # Another address is still fine.
    assert _invite(login(alice), workspace, "someone@example.test").status_code == 302


def test_the_limit_counts_across_workspaces_of_the_same_inviter(
    alice, workspace, login, mailoutbox, settings
):
    settings.INVITATIONS_PER_INVITER_PER_HOUR = 2
    second = services.workspace_create(name="Second", owner=alice)
    assert Membership.objects.get(user=alice, workspace=second).is_owner
    client = login(alice)
    assert _invite(client, workspace, "a@example.test").status_code == 302
    assert _invite(client, second, "b@example.test").status_code == 302
    assert _invite(client, second, "c@example.test").status_code == 422
    assert Workspace.objects.count() >= 2 and len(mailoutbox) == 2


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_several_inviters_at_once_cannot_pass_one_addresss_limit(settings, monkeypatch):
    """Six verified owners, each in its own thread with its own connection (as separate web
    processes are), invite one address at the same moment: the per-address limit still holds.
    Each one lingers a moment after the check, inside its transaction, as a busy server would."""
    import threading
    import time

    from django.db import connection

    settings.INVITATIONS_PER_ADDRESS_PER_HOUR = 2
    owners = []
    for i in range(6):
        user = verified_user(f"owner{i}@example.test", f"Owner {i}")
        owners.append((user, services.workspace_create(name=f"W{i}", owner=user)))
    checked = services._invitation_allowed

    def slow_check(**kwargs):
        checked(**kwargs)
        time.sleep(0.3)

    monkeypatch.setattr(services, "_invitation_allowed", slow_check)
    barrier = threading.Barrier(len(owners))
    outcomes: list[str] = []

    def invite(user, workspace) -> None:
        try:
            barrier.wait(timeout=10)
            services.invitation_create(
                workspace=workspace,
                email="target@example.test",
                role="viewer",
                inviter=user,
                request=RequestFactory().get("/"),
            )
            outcomes.append("sent")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=invite, args=pair) for pair in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["refused"] * 4 + ["sent"] * 2
    assert Invitation.objects.filter(email="target@example.test").count() == 2
