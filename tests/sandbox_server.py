"""Runs the Taisly sandbox (`manage.py sandbox`) as a subprocess for tests.

    server = SandboxServer(tmpdir).start()
    account = server.create_account()          # {"api_key", "plan", "platforms": [...]}
    requests.get(f"{server.base_url}/platform/platforms",
                 headers={"Authorization": f"Bearer {account['api_key']}"})
    server.fault("500", count=2); server.advance(60); server.stop()

Each server has its own SQLite file and upload temp dir under `tmpdir`, and publishes posts one
second after they are due (SANDBOX_PUBLISH_SECONDS=1).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import requests

from tests.local_server import LocalServer

ROOT = Path(__file__).resolve().parent.parent
MANAGE = ROOT / "manage.py"
ALL_NETWORKS = ("TikTok", "Instagram", "YouTube", "X", "Facebook")


class SandboxError(RuntimeError):
    pass


class SandboxServer(LocalServer):
    BOUND = re.compile(r"Taisly sandbox on http://127\.0\.0\.1:(\d+)/")
    NAME = "sandbox"
    Error = SandboxError
    LOG_NAME = "sandbox.log"
    TMP_PREFIX = "taisly-sandbox-"

    def __init__(
        self,
        tmpdir: str | os.PathLike | None = None,
        *,
        publish_seconds: float = 1,
        rate_window_seconds: int = 3600,
        env: dict[str, str] | None = None,
        startup_timeout: float = 30,
    ) -> None:
        super().__init__(tmpdir, startup_timeout=startup_timeout)
        self.db_path = self.tmpdir / "sandbox.sqlite3"
        self.upload_dir = self.tmpdir / "uploads"
        self.publish_seconds = publish_seconds
        self.rate_window_seconds = rate_window_seconds
        self.extra_env = dict(env or {})
        self.session = requests.Session()

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/api/private"

    def start(self) -> SandboxServer:
        if self.process is not None:
            return self
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "taisly_dash.settings",
            "SANDBOX_DATABASE_URL": f"sqlite:///{self.db_path}",
            "SANDBOX_PUBLISH_SECONDS": str(self.publish_seconds),
            "SANDBOX_RATE_WINDOW_SECONDS": str(self.rate_window_seconds),
            "FILE_UPLOAD_TEMP_DIR": str(self.upload_dir),
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        self._spawn(
            [sys.executable, str(MANAGE), "sandbox", "--addrport", "127.0.0.1:0"], cwd=ROOT, env=env
        )
        return self

    def answers(self) -> bool:
        return self.session.get(f"{self.root_url}/control/state", timeout=1).status_code == 200

    def stop(self) -> None:
        self.session.close()
        super().stop()

    # --- control --------------------------------------------------------------------------------

    def _control(self, method: str, path: str, json: dict | None = None) -> dict:
        response = self.session.request(
            method, f"{self.root_url}/control/{path}", json=json, timeout=10
        )
        if response.status_code != 200:
            raise SandboxError(f"{method} /control/{path}: {response.status_code} {response.text}")
        return response.json()

    def create_account(
        self,
        plan: str = "STARTER",
        platforms: Iterable[str] = ALL_NETWORKS,
        disconnected: Iterable[str] = (),
    ) -> dict:
        """A new account: {"api_key": "taisly_…", "plan": ..., "platforms": [{"_id", ...}]}."""
        return self._control(
            "POST",
            "accounts",
            {"plan": plan, "platforms": list(platforms), "disconnected": list(disconnected)},
        )

    def fault(self, mode: str, count: int = 1, **extra) -> dict:
        """Make the next `count` API calls fail: "500", "timeout" (delay=s), "garbage",
        "429" (retryAfter=s) or "drop". Faults queue up; the oldest is used first."""
        return self._control("POST", "faults", {"mode": mode, "count": count, **extra})["data"]

    def clear_faults(self) -> None:
        self._control("DELETE", "faults")

    def advance(self, seconds: float) -> dict:
        """Move the sandbox clock forward (statuses and rate windows follow it)."""
        return self._control("POST", "clock", {"advance": seconds})["data"]

    def reset_clock(self) -> dict:
        return self._control("POST", "clock", {"reset": True})["data"]

    def state(self) -> dict:
        return self._control("GET", "state")["data"]
