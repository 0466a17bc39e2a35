"""The people part of the dashboard in a real browser: sign up, create a client workspace,
invite a viewer, who signs up from the link, confirms their address and so joins, in a second
browser; then what a viewer may not do.

live_server runs in this process, so the invitation email is read from ``mail.outbox``
(pytest-django switches the email backend to locmem).
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from accounts.models import Membership, User

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-enough-pass-42"


def manage_menu(page: Page):
    """The bar's "Manage" menu (accounts, reposts, slots, members, key, audit log, settings),
    opened as a person opens it: by pointing at it."""
    menu = page.get_by_test_id("nav-manage")
    menu.hover()
    return menu.locator(".navbar-dropdown")


def _watch_csp(page: Page, violations: list[str]) -> None:
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )


def _sign_up(page: Page, name: str, password: str = PASSWORD) -> None:
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password again").fill(password)
    page.get_by_role("button", name="Sign up").click()


def test_sign_up_create_a_client_connect_a_key_invite_a_viewer_who_cannot_touch(
    page: Page, new_context, live_server, screenshot_dir, settings, sandbox
):
    settings.TAISLY_BASE_URL = sandbox.base_url
    api_key = sandbox.create_account(plan="PRO", platforms=("TikTok", "Instagram"))["api_key"]
    csp: list[str] = []
    _watch_csp(page, csp)
    page.set_viewport_size({"width": 1280, "height": 860})

    # Sign up: a personal workspace comes with the account.
    page.goto(f"{live_server.url}/login/")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email").fill("olivia@agency.test")
    page.screenshot(path=f"{screenshot_dir}/people_signup.png", full_page=True)
    _sign_up(page, "Olivia")
    # "We sent you a link" (what a taken address gets too); the link logs this browser in.
    expect(page).to_have_url(re.compile(r"/confirm-email/$"))
    page.screenshot(path=f"{screenshot_dir}/people_verification_sent.png", full_page=True)
    welcome = [m for m in mail.outbox if m.to == ["olivia@agency.test"]][-1]
    page.goto(re.search(r"https?://\S+/confirm-email/\S+/", welcome.body).group(0))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Olivia")
    expect(page.get_by_test_id("workspace-list")).to_contain_text("Personal")

    # Create a client workspace: a new person owns no client yet, so the button is plainly
    # "New workspace" ("New client workspace" once they are an agency).
    page.locator("main").get_by_role("link", name="New workspace").click()
    page.get_by_label("Name").fill("Acme Client")
    page.get_by_role("button", name="Create workspace").click()
    expect(page).to_have_url(re.compile(r"/w/[0-9a-f-]{36}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Client")
    expect(page.get_by_test_id("role")).to_have_text("Owner")
    workspace_url = page.url
    page.screenshot(path=f"{screenshot_dir}/people_workspace_home.png", full_page=True)

    # Connect the client's Taisly key: verified with the sandbox, then shown as plan and hint.
    manage_menu(page).get_by_role("link", name="Taisly key").click()
    page.get_by_role("link", name="Connect a Taisly key").click()
    page.get_by_label("Password").fill(PASSWORD)  # asked again before a key is pasted
    page.get_by_role("button", name="Confirm").click()
    connect_url = page.url
    page.get_by_label("Taisly API key").fill(api_key)
    page.get_by_role("button", name="Check and connect").click()
    expect(page.get_by_test_id("key-plan")).to_have_text("Pro")
    expect(page.get_by_test_id("key-hint")).to_have_text(f"taisly_…{api_key[-4:]}")
    assert api_key not in page.content()
    page.goto(workspace_url)

    # The switcher knows both workspaces.
    page.get_by_test_id("workspace-switcher").hover()
    switcher = page.get_by_test_id("workspace-switcher").locator(".navbar-dropdown")
    expect(switcher.get_by_role("link", name="Acme Client")).to_be_visible()
    expect(switcher.get_by_role("link", name="Olivia Personal")).to_be_visible()

    # Invite a viewer.
    manage_menu(page).get_by_role("link", name="Members").click()
    page.get_by_role("link", name="Invite someone").click()
    invite_url = page.url
    page.get_by_label("Email").fill("client@acme.test")
    page.get_by_label("Role").select_option("viewer")
    page.screenshot(path=f"{screenshot_dir}/people_invite.png", full_page=True)
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_contain_text("Invitation sent to client@acme.test")
    expect(page.get_by_test_id("invitations")).to_contain_text("client@acme.test")
    invitation_mail = [m for m in mail.outbox if m.to == ["client@acme.test"]]
    assert len(invitation_mail) == 1
    link = re.search(r"https?://\S+/invitations/\S+/", invitation_mail[0].body).group(0)

    # htmx: the last owner's refusal comes back inside the row, without a reload.
    own_row = page.get_by_test_id("members").locator("tr", has_text="olivia@agency.test")
    own_row.get_by_role("combobox").select_option("viewer")
    own_row.get_by_role("button", name="Save the role").click()
    expect(page.get_by_test_id("members")).to_contain_text("always keeps at least one owner")
    page.screenshot(path=f"{screenshot_dir}/people_members.png", full_page=True)

    # The viewer, in a browser of their own (and their own time zone), signs up from the link.
    viewer_context = new_context(timezone_id="Asia/Jakarta")
    viewer = viewer_context.new_page()
    _watch_csp(viewer, csp)
    viewer.goto(link)
    expect(viewer.get_by_role("heading", level=1)).to_have_text("Join “Acme Client”")
    expect(viewer.locator("main")).to_contain_text("client@acme.test")
    viewer.screenshot(path=f"{screenshot_dir}/people_invitation.png", full_page=True)
    viewer.get_by_role("link", name="Sign up and accept").click()
    expect(viewer.get_by_label("Email")).to_have_value("client@acme.test")
    viewer.screenshot(path=f"{screenshot_dir}/people_signup_invited.png", full_page=True)
    _sign_up(viewer, "Carla Client")
    # Signed up, but not in yet: the address must be confirmed first.
    expect(viewer.locator("#messages")).to_contain_text("Almost there")
    expect(viewer.locator("#messages")).to_contain_text("client@acme.test")
    viewer.screenshot(path=f"{screenshot_dir}/people_verify_sent.png", full_page=True)
    carla = User.objects.get(email="client@acme.test")
    assert not Membership.objects.filter(user=carla, workspace__name="Acme Client").exists()
    confirmation = [m for m in mail.outbox if m.to == ["client@acme.test"]][-1]
    confirm_link = re.search(r"https?://\S+/confirm-email/\S+/", confirmation.body).group(0)
    viewer.goto(confirm_link)
    viewer.screenshot(path=f"{screenshot_dir}/people_confirm_email.png", full_page=True)
    viewer.get_by_role("button", name="Confirm").click()
    expect(viewer.locator("#messages")).to_contain_text("You joined “Acme Client” as Viewer")
    expect(viewer.get_by_test_id("role")).to_have_text("Viewer")
    expect(viewer.get_by_test_id("verify-banner")).to_have_count(0)
    assert viewer.url == workspace_url
    carla.refresh_from_db()
    assert carla.timezone == "Asia/Jakarta"  # taken from the browser at sign-up
    assert Membership.objects.get(user=carla, workspace__name="Acme Client").role == "viewer"

    # A viewer reads the members but cannot invite: no button, and the page itself is a 403.
    manage_menu(viewer).get_by_role("link", name="Members").click()
    expect(viewer.get_by_test_id("members")).to_contain_text("olivia@agency.test")
    expect(viewer.get_by_role("link", name="Invite someone")).to_have_count(0)
    response = viewer.goto(invite_url)
    assert response.status == 403
    expect(viewer.get_by_role("heading", level=1)).to_have_text("Your role does not allow this")
    expect(viewer.get_by_role("alert")).to_contain_text("Ask one of its owners")
    viewer.screenshot(path=f"{screenshot_dir}/people_viewer_403.png", full_page=True)

    # Nor can the viewer reach the connect page, and the key page offers no actions.
    response = viewer.goto(connect_url)
    assert response.status == 403
    manage_menu(viewer).get_by_role("link", name="Taisly key").click()
    expect(viewer.get_by_test_id("key-hint")).to_have_text(f"taisly_…{api_key[-4:]}")
    expect(viewer.get_by_role("link", name="Connect a Taisly key")).to_have_count(0)
    for action in ("Regenerate key", "Revoke key", "Disconnect"):
        expect(viewer.locator("main")).not_to_contain_text(action)
    assert api_key not in viewer.content()

    # The link worked once.
    response = viewer.goto(link)
    assert response.status == 410
    expect(viewer.get_by_role("alert")).to_contain_text("already been used")

    # The owner now sees the viewer as a member, and the audit log tells the story.
    page.reload()
    expect(page.get_by_test_id("members")).to_contain_text("client@acme.test")
    manage_menu(page).get_by_role("link", name="Audit log").click()
    events = page.get_by_test_id("audit-events")
    for text in ("Workspace created", "Taisly key connected", "Member invited", "Member joined"):
        expect(events).to_contain_text(text)
    page.screenshot(path=f"{screenshot_dir}/people_audit.png", full_page=True)

    page.goto(f"{live_server.url}/profile/")
    page.screenshot(path=f"{screenshot_dir}/people_profile.png", full_page=True)
    viewer_context.close()
    assert csp == []


def test_the_members_page_fits_a_phone(page: Page, live_server, screenshot_dir):
    user = User.objects.create_user(
        email="phone@example.test", password=PASSWORD, display_name="Pat"
    )
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.screenshot(path=f"{screenshot_dir}/people_home_phone.png", full_page=True)
    page.locator("main").get_by_role("link", name="Pat").click()
    page.get_by_test_id("nav-burger").click()
    manage_menu(page).get_by_role("link", name="Members").click()
    expect(page.get_by_test_id("members")).to_contain_text("phone@example.test")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=f"{screenshot_dir}/people_members_phone.png", full_page=True)


def test_a_locked_out_login_says_for_how_long(page: Page, live_server, settings, screenshot_dir):
    User.objects.create_user(email="locked@example.test", password=PASSWORD)
    page.goto(f"{live_server.url}/login/")
    for _ in range(settings.LOGIN_FAILURE_LIMIT + 1):
        page.get_by_label("Email").fill("locked@example.test")
        page.get_by_label("Password").fill("wrong-password")
        page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Too many attempts")
    expect(page.get_by_role("alert")).to_contain_text("15 minutes")
    page.screenshot(path=f"{screenshot_dir}/people_locked_out.png", full_page=True)
