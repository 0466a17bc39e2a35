"""The Taisly key page in a real browser: the owner connects a sandbox key, a viewer only looks."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from tests.personas import PERSONA_PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PLAINTEXT_KEY = re.compile(r"taisly_[0-9a-f]{64}")


@pytest.fixture
def csp_violations(page: Page) -> list[str]:
    seen: list[str] = []
    page.on(
        "console",
        lambda msg: seen.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    return seen


def log_in(page: Page, live_server, user) -> None:
    page.goto(f"{live_server.url}{reverse('account_login')}")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PERSONA_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("current-user")).to_be_visible()


def confirm_password(page: Page) -> None:
    """allauth's page that asks for the password again before a key action."""
    expect(page).to_have_url(re.compile(r"/reauthenticate/\?next="))
    page.get_by_label("Password").fill(PERSONA_PASSWORD)
    page.get_by_role("button", name="Confirm").click()


def key_url(live_server, name: str, workspace) -> str:
    return live_server.url + reverse(f"taisly:{name}", kwargs={"code": workspace.code})


@pytest.fixture
def connected_key(settings, sandbox, sandbox_account, workspace, alice) -> str:
    """The workspace's key, connected through the service as its owner would."""
    from posting.connection import keys

    settings.TAISLY_BASE_URL = sandbox.base_url
    keys.connection_connect(
        workspace=workspace, api_key=sandbox_account["api_key"], plan=None, actor=alice
    )
    return sandbox_account["api_key"]


def test_the_owner_connects_a_sandbox_key_and_sees_plan_and_hint(
    page: Page,
    live_server,
    settings,
    sandbox,
    sandbox_account,
    workspace,
    alice,
    screenshot_dir,
    csp_violations,
):
    settings.TAISLY_BASE_URL = sandbox.base_url
    api_key = sandbox_account["api_key"]
    log_in(page, live_server, alice)

    page.goto(key_url(live_server, "detail", workspace))
    expect(page.get_by_test_id("no-key")).to_be_visible()
    page.screenshot(path=f"{screenshot_dir}/keys_empty.png", full_page=True)
    page.get_by_role("link", name="Connect a Taisly key").click()
    # Logging in a while ago is not enough to paste a key: the password again first.
    page.screenshot(path=f"{screenshot_dir}/keys_reauthenticate.png", full_page=True)
    confirm_password(page)

    key_input = page.get_by_label("Taisly API key")
    expect(key_input).to_have_attribute("type", "password")
    expect(key_input).to_have_attribute("autocomplete", "off")

    # A wrong key first: a sentence, and the field comes back empty.
    key_input.fill(api_key[:-6] + "abcdef")
    page.get_by_role("button", name="Check and connect").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("Taisly did not accept this key")
    expect(page.get_by_label("Taisly API key")).to_have_value("")
    assert not PLAINTEXT_KEY.search(page.content())
    page.screenshot(path=f"{screenshot_dir}/keys_connect_wrong_key.png", full_page=True)

    page.get_by_label("Taisly API key").fill(api_key)
    page.get_by_role("button", name="Check and connect").click()

    expect(page).to_have_url(key_url(live_server, "detail", workspace))
    expect(page.get_by_role("status")).to_contain_text("connected (plan Starter")
    expect(page.get_by_test_id("key-plan")).to_have_text("Starter")
    expect(page.get_by_test_id("key-hint")).to_have_text(f"taisly_…{api_key[-4:]}")
    expect(page.get_by_test_id("key-status")).to_have_text("Active")
    for action in ("Regenerate key", "Revoke key", "Disconnect"):
        expect(page.get_by_role("link", name=action)).to_be_visible()
    html = page.content()
    assert api_key not in html and api_key[7:] not in html
    page.screenshot(path=f"{screenshot_dir}/keys_connected.png", full_page=True)

    page.get_by_role("link", name="Regenerate key").click()
    expect(page.get_by_role("heading", name="Regenerate key")).to_be_visible()
    page.screenshot(path=f"{screenshot_dir}/keys_confirm_regenerate.png", full_page=True)
    page.get_by_role("button", name="Regenerate key").click()
    expect(page.get_by_role("status")).to_contain_text("generated and stored")
    expect(page.get_by_test_id("key-hint")).not_to_have_text(f"taisly_…{api_key[-4:]}")
    assert not PLAINTEXT_KEY.search(page.content())
    assert csp_violations == []


def test_a_viewer_sees_the_key_page_but_cannot_connect(
    page: Page, live_server, connected_key, workspace, vera, screenshot_dir, csp_violations
):
    log_in(page, live_server, vera)

    page.goto(key_url(live_server, "detail", workspace))
    expect(page.get_by_test_id("key-plan")).to_have_text("Starter")
    expect(page.get_by_test_id("key-actions")).to_have_count(0)
    expect(page.get_by_role("link", name="Connect a Taisly key")).to_have_count(0)
    expect(page.get_by_role("link", name="Regenerate key")).to_have_count(0)
    expect(page.get_by_text("Only the workspace's owners can")).to_be_visible()
    page.screenshot(path=f"{screenshot_dir}/keys_viewer.png", full_page=True)

    response = page.goto(key_url(live_server, "connect", workspace))
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("this page is for members with more rights")
    page.screenshot(path=f"{screenshot_dir}/keys_viewer_403.png", full_page=True)
    assert csp_violations == []


def test_a_new_key_that_could_not_be_stored_is_shown_once(
    page: Page,
    live_server,
    connected_key,
    workspace,
    alice,
    monkeypatch,
    screenshot_dir,
    csp_violations,
):
    from django.db import DatabaseError

    from posting.connection import keys

    log_in(page, live_server, alice)
    page.goto(key_url(live_server, "regenerate", workspace))
    confirm_password(page)
    original = keys._mark_if_unchanged

    def broken_store(connection, token, **fields):
        if "api_key" in fields:  # storing the new key (marking the old one invalid still works)
            raise DatabaseError("disk I/O error")
        return original(connection, token, **fields)

    monkeypatch.setattr(keys, "_mark_if_unchanged", broken_store)
    page.get_by_role("button", name="Regenerate key").click()
    expect(page.get_by_role("heading", name="Your new Taisly key")).to_be_visible()
    shown = page.get_by_test_id("new-key").input_value()
    assert PLAINTEXT_KEY.fullmatch(shown) and shown != connected_key
    page.screenshot(path=f"{screenshot_dir}/keys_new_key_once.png", full_page=True)
    monkeypatch.undo()

    page.goto(key_url(live_server, "detail", workspace))
    expect(page.get_by_test_id("key-status")).to_have_text("Invalid")
    assert shown not in page.content()
    page.screenshot(path=f"{screenshot_dir}/keys_invalid.png", full_page=True)
    assert csp_violations == []
