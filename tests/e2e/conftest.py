"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live_server.

The browser is never downloaded: Playwright launches /usr/bin/chromium (or $CHROMIUM_PATH).
If it is missing the tests fail loudly rather than skip: CI installs it.
"""

from __future__ import annotations

import os
import shutil

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run in a
# thread with a running loop unless told that this is deliberate (it is: tests only).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: install it (apt-get install -y chromium)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def screenshot_dir():
    path = os.environ.get("E2E_SCREENSHOT_DIR", "test-results/screenshots")
    os.makedirs(path, exist_ok=True)
    return path
