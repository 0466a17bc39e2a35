"""The alerts pages: list, badge, mark read (per person), emails choice, webhooks (owners)."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from posting.models import Alert, AlertPreference, AlertRead, Post, WebhookEndpoint
from tests.posting.factories import make_platforms

pytestmark = pytest.mark.django_db


def make_alerts(workspace, count: int) -> list[Alert]:
    platforms = make_platforms(workspace)
    made = []
    for i in range(count):
        post = Post.objects.create(
            workspace=workspace, description=f"Post {i} launch", state=Post.State.SENT
        )
        made.append(
            Alert.objects.create(
                workspace=workspace,
                post=post,
                platform=platforms["TikTok" if i % 2 else "X"],
                kind="failed",
                error_code="DESCRIPTION_TOO_LONG",
            )
        )
    return made


def url(name, workspace, **kwargs):
    return reverse(f"posting:{name}", kwargs={"code": workspace.code, **kwargs})


def test_the_list_names_post_network_code_explanation_and_links(workspace, vera, login):
    (alert,) = make_alerts(workspace, 1)
    page = login(vera).get(url("alerts", workspace)).content.decode()
    assert "Post 0 launch" in page and "X" in page and "DESCRIPTION_TOO_LONG" in page
    assert "longer than this network allows" in page  # posting/codes.py's explanation
    assert url("post", workspace, post_code=alert.post.code) in page


@pytest.mark.parametrize("count", [1, 30])
def test_the_list_runs_a_fixed_number_of_queries(
    workspace, alice, login, django_assert_num_queries, count
):
    make_alerts(workspace, count)
    client = login(alice)
    # 1 session, 2 user, 3 the user's memberships (access and navigation), 4 count of the
    # page's alerts, 5 the page of alerts with post, platform and is_read, 6 unread count.
    with django_assert_num_queries(6):
        response = client.get(url("alerts", workspace))
    assert response.content.decode().count('data-testid="alert"') == count


def test_filters_by_kind_network_and_unread(workspace, alice, login):
    alerts = make_alerts(workspace, 4)
    client = login(alice)
    AlertRead.objects.create(alert=alerts[1], user=alice)
    page = client.get(url("alerts", workspace), {"network": "TikTok"}).content.decode()
    assert page.count('data-testid="alert"') == 2
    page = client.get(url("alerts", workspace), {"network": "TikTok", "unread": "on"})
    assert page.content.decode().count('data-testid="alert"') == 1
    page = client.get(url("alerts", workspace), {"kind": "stuck"}).content.decode()
    assert page.count('data-testid="alert"') == 0
    partial = client.get(url("alerts", workspace), HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and partial.count('data-testid="alert"') == 4


def test_the_badge_counts_unread_and_mark_read_is_per_person(workspace, alice, vera, login):
    alerts = make_alerts(workspace, 3)
    viewer = login(vera)
    assert ">3<" in viewer.get(url("alert_badge", workspace)).content.decode()
    response = viewer.post(url("alert_read", workspace, alert_code=alerts[0].code))
    assert response.status_code == 302
    assert ">2<" in viewer.get(url("alert_badge", workspace)).content.decode()
    response = viewer.post(url("alerts_read_all", workspace), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "alerts-changed" in response["HX-Trigger"]
    assert "alert-badge" not in viewer.get(url("alert_badge", workspace)).content.decode()
    # alice still has all three unread.
    assert ">3<" in login(alice).get(url("alert_badge", workspace)).content.decode()
    assert AuditEvent.objects.filter(action="alerts.read", actor=vera).count() == 2


def test_the_count_across_workspaces(workspace, alice, login):
    from accounts.models import Membership, Workspace

    other = Workspace.objects.create(name="Client B", kind=Workspace.Kind.CLIENT)
    Membership.objects.create(workspace=other, user=alice, role=Membership.Role.OWNER)
    make_alerts(workspace, 2)
    make_alerts(other, 3)
    client = login(alice)
    page = client.get(reverse("alerts_everywhere")).content.decode()
    assert "5 unread alerts" in page and "Client B" in page
    badge = client.get(reverse("alerts_everywhere"), {"fragment": "badge"}, HTTP_HX_REQUEST="true")
    assert ">5<" in badge.content.decode()


def test_staff_read_alerts_but_mark_nothing(workspace, staff, login):
    (alert,) = make_alerts(workspace, 1)
    client = login(staff)
    assert client.get(url("alerts", workspace)).status_code == 200
    assert client.post(url("alert_read", workspace, alert_code=alert.code)).status_code == 403
    assert client.post(url("alerts_read_all", workspace)).status_code == 403
    assert client.get(url("alert_settings", workspace)).status_code == 403
    # An alert that is not there is a 404 first, for staff as for members.
    assert client.post(url("alert_read", workspace, alert_code=uuid.uuid4())).status_code == 404
    assert not AlertRead.objects.exists()


def test_a_member_chooses_their_alert_emails(workspace, vera, login):
    client = login(vera)
    page = client.get(url("alert_settings", workspace)).content.decode()
    assert 'value="off" ' in page and "checked" in page.split('value="off"')[1][:40]
    response = client.post(url("alert_settings", workspace), {"email": "hourly"})
    assert response.status_code == 302
    assert AlertPreference.objects.get(user=vera, workspace=workspace).email == "hourly"
    event = AuditEvent.objects.get(action="alerts.email_changed")
    assert event.details == {"from": "off", "to": "hourly"}
    assert client.post(url("alert_settings", workspace), {"email": "never"}).status_code == 422


def test_webhooks_are_for_owners(workspace, alice, bob, vera, login):
    assert login(bob).get(url("webhooks", workspace)).status_code == 403
    assert login(vera).get(url("webhooks", workspace)).status_code == 403
    client = login(alice)
    response = client.post(
        url("webhooks", workspace),
        {"url": "https://hooks.example.test/in", "format": "json", "events": ["failed"]},
    )
    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 302 and endpoint.events == ["failed"]
    page = client.get(url("webhook", workspace, endpoint=endpoint.code)).content.decode()
    assert endpoint.secret in page
    assert login(bob).get(url("webhook", workspace, endpoint=endpoint.code)).status_code == 403


def test_a_refused_webhook_url_answers_422_with_a_sentence(workspace, alice, login, settings):
    settings.WEBHOOK_REQUIRE_HTTPS = True
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = login(alice).post(
        url("webhooks", workspace), {"url": "https://127.0.0.1:9/x", "format": "json"}
    )
    assert response.status_code == 422
    assert "private, loopback or reserved address" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_a_workspace_asking_for_two_factor_keeps_its_alerts_to_members_with_it(
    workspace, alice, login, django_assert_num_queries
):
    from allauth.mfa.totp.internal.auth import TOTP

    from accounts.models import Membership, Workspace

    locked = Workspace.objects.create(name="Client Locked", require_2fa=True)
    Membership.objects.create(workspace=locked, user=alice, role=Membership.Role.OWNER)
    make_alerts(workspace, 2)
    make_alerts(locked, 3)
    client = login(alice)

    # The same queries as without it: 1 session, 2 user, 3 memberships, 4 the unread counts.
    with django_assert_num_queries(4):
        page = client.get(reverse("alerts_everywhere")).content.decode()
    assert "2 unread alerts in all your workspaces" in page
    row = page.split('data-testid="alerts-workspace-locked"')[1].split("</tr>")[0]
    assert "Client Locked" in row and "Set up two-factor to see this workspace" in row
    assert f'href="{reverse("mfa_index")}"' in row and "3" not in row
    assert reverse("posting:alerts", kwargs={"code": locked.code}) not in page
    badge = client.get(reverse("alerts_everywhere") + "?fragment=badge", HTTP_HX_REQUEST="true")
    assert 'data-testid="alert-badge-all">2<' in badge.content.decode()

    TOTP.activate(alice, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    page = client.get(reverse("alerts_everywhere")).content.decode()
    assert "5 unread alerts in all your workspaces" in page
    assert "Set up two-factor" not in page


def test_the_count_across_workspaces_runs_a_fixed_number_of_queries(
    workspace, alice, login, django_assert_num_queries
):
    from accounts.models import Membership, Workspace

    other = Workspace.objects.create(name="Client B", kind=Workspace.Kind.CLIENT)
    Membership.objects.create(workspace=other, user=alice, role=Membership.Role.OWNER)
    make_alerts(workspace, 2)
    make_alerts(other, 3)
    client = login(alice)
    # 1 session, 2 user, 3 the user's memberships (the rows and the navigation), 4 the unread
    # count per workspace.
    with django_assert_num_queries(4):
        response = client.get(reverse("alerts_everywhere"))
    assert "5 unread alerts" in response.content.decode()
