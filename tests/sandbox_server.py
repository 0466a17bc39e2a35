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
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
MANAGE = ROOT / "manage.py"
ALL_NETWORKS = ("TikTok", "Instagram", "YouTube", "X", "Facebook")


class SandboxError(RuntimeError):
    pass


_BOUND = re.compile(r"Taisly sandbox on http://127\.0\.0\.1:(\d+)/")


class SandboxServer:
    def __init__(
        self,
        tmpdir: str | os.PathLike | None = None,
        *,
        publish_seconds: float = 1,
        rate_window_seconds: int = 3600,
        env: dict[str, str] | None = None,
        startup_timeout: float = 30,
    ) -> None:
        self._own_tmpdir = tmpdir is None
        self.tmpdir = Path(tmpdir or tempfile.mkdtemp(prefix="taisly-sandbox-"))
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.tmpdir / "sandbox.sqlite3"
        self.upload_dir = self.tmpdir / "uploads"
        self.log_path = self.tmpdir / "sandbox.log"
        self.publish_seconds = publish_seconds
        self.rate_window_seconds = rate_window_seconds
        self.extra_env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._log = None
        self.session = requests.Session()

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        if self.port is None:
            raise SandboxError("The sandbox is not started.")
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/api/private"

    def start(self) -> SandboxServer:
        if self.process is not None:
            return self
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        self.port = None
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
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop())
        log_start = self._log.tell()
        # Port 0: the server binds a free port itself and prints it. Picking one here and passing
        # it on would leave a gap in which another process could take it (and answer for it).
        self.process = subprocess.Popen(
            [sys.executable, str(MANAGE), "sandbox", "--addrport", "127.0.0.1:0"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._fail_start(f"exited with code {self.process.returncode}")
            if self.port is None:
                self.port = self._bound_port(log_start)
            if self.port is not None:
                try:
                    response = self.session.get(f"{self.root_url}/control/state", timeout=1)
                    if response.status_code == 200:
                        return self
                except requests.ConnectionError:
                    pass
            time.sleep(0.1)
        self._fail_start(f"did not answer within {self.startup_timeout} s")
        raise AssertionError("unreachable")

    def _bound_port(self, log_start: int) -> int | None:
        """The port from the server's "Taisly sandbox on http://127.0.0.1:PORT/…" line."""
        with open(self.log_path, "rb") as log:
            log.seek(log_start)
            found = _BOUND.search(log.read().decode(errors="replace"))
        return int(found.group(1)) if found else None

    def _fail_start(self, why: str) -> None:
        self.stop()
        raise SandboxError(f"The sandbox {why}. Log tail:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        self.session.close()
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._own_tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

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
