"""A server run as a subprocess for tests, on a port it picks itself: the sandbox
(``tests/sandbox_server.py``) and moto's S3 server (``tests/s3_server.py``) both start this way.

Port 0: the server binds a free port itself and prints it. Picking one here and passing it on
would leave a gap in which another process could take it (and answer for it). The output goes to
a log file under ``tmpdir``, whose tail every start-up failure quotes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import requests

from tests.polling import wait_until


class LocalServer:
    #: The line the server prints once it listens; its group is the port.
    BOUND: re.Pattern[str]
    #: What the server is called in errors ("The sandbox did not answer …").
    NAME = "server"
    #: Raised when it does not start.
    Error: type[Exception] = RuntimeError
    LOG_NAME = "server.log"
    TMP_PREFIX = "local-server-"

    def __init__(self, tmpdir: str | os.PathLike | None = None, *, startup_timeout: float = 30):
        self._own_tmpdir = tmpdir is None
        self.tmpdir = Path(tmpdir or tempfile.mkdtemp(prefix=self.TMP_PREFIX))
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.tmpdir / self.LOG_NAME
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def root_url(self) -> str:
        if self.port is None:
            raise self.Error(f"The {self.NAME} is not started.")
        return f"http://127.0.0.1:{self.port}"

    def answers(self) -> bool:
        """Whether the started server answers a request yet."""
        raise NotImplementedError

    def _spawn(self, command: list[str], *, cwd: Path, env: dict[str, str]) -> None:
        """Start ``command`` and wait until it prints its port and answers there."""
        self.port = None
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop())
        log_start = self._log.tell()
        self.process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

        def up() -> bool:
            if self.process.poll() is not None:
                self._fail_start(f"exited with code {self.process.returncode}")
            if self.port is None:
                self.port = self._bound_port(log_start)
            if self.port is None:
                return False
            try:
                return self.answers()
            except requests.ConnectionError:
                return False

        try:
            wait_until(
                up, what=f"the {self.NAME} to answer", timeout=self.startup_timeout, every=0.1
            )
        except AssertionError:
            self._fail_start(f"did not answer within {self.startup_timeout} s")

    def _bound_port(self, log_start: int) -> int | None:
        with open(self.log_path, "rb") as log:
            log.seek(log_start)
            found = self.BOUND.search(log.read().decode(errors="replace"))
        return int(found.group(1)) if found else None

    def _fail_start(self, why: str) -> None:
        tail = self.log_tail()  # before stop(), which removes a temp dir of its own
        self.stop()
        raise self.Error(f"The {self.NAME} {why}. Log tail:\n{tail}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
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

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
