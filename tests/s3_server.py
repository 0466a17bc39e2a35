"""Runs moto's stand-alone S3-compatible server (`python -m moto.server`) as a subprocess, so the
object-storage tests talk HTTP on loopback to a real server, as production talks to a bucket.

    server = S3Server(tmpdir).start()
    bucket = server.create_bucket()             # a fresh, private bucket
    env = server.env(bucket)                    # STORAGE_S3_* for a dashboard process
    server.keys(bucket); server.stop()

The server binds a free port itself (port 0) and prints it; it keeps its objects in memory, and
large ones in temp files under ``tmpdir``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import boto3
import requests

ROOT = Path(__file__).resolve().parent.parent
#: Any credentials do for moto; a dashboard process gets them as STORAGE_S3_* like any others.
ACCESS_KEY_ID = "moto-test-key-id"
SECRET_ACCESS_KEY = "moto-test-secret-access-key"  # noqa: S105 (a test server's, not a secret)
REGION = "us-east-1"

_BOUND = re.compile(r"Running on http://127\.0\.0\.1:(\d+)")


class S3ServerError(RuntimeError):
    pass


class S3Server:
    def __init__(self, tmpdir: str | os.PathLike | None = None, *, startup_timeout: float = 30):
        self._own_tmpdir = tmpdir is None
        self.tmpdir = Path(tmpdir or tempfile.mkdtemp(prefix="moto-s3-"))
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.tmpdir / "moto.log"
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._log = None
        self._client = None

    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise S3ServerError("The S3 server is not started.")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        if self.process is not None:
            return self
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop())
        log_start = self._log.tell()
        env = {**os.environ, "TMPDIR": str(self.tmpdir), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
            cwd=self.tmpdir,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._fail_start(f"exited with code {self.process.returncode}")
            if self.port is None:
                with open(self.log_path, "rb") as log:
                    log.seek(log_start)
                    found = _BOUND.search(log.read().decode(errors="replace"))
                self.port = int(found.group(1)) if found else None
            if self.port is not None:
                try:
                    requests.get(f"{self.endpoint_url}/moto-api/", timeout=1)
                    return self
                except requests.ConnectionError:
                    pass
            time.sleep(0.1)
        self._fail_start(f"did not answer within {self.startup_timeout} s")
        raise AssertionError("unreachable")

    def _fail_start(self, why: str) -> None:
        self.stop()
        raise S3ServerError(f"The S3 server {why}. Log tail:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

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

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- the bucket, as its owner sees it -------------------------------------------------------

    @property
    def client(self):
        """A boto3 S3 client with the owner's credentials (made once)."""
        if self._client is None:
            self._client = boto3.client(
                "s3",
                endpoint_url=self.endpoint_url,
                aws_access_key_id=ACCESS_KEY_ID,
                aws_secret_access_key=SECRET_ACCESS_KEY,
                region_name=REGION,
            )
        return self._client

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"videos-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

    def env(self, bucket: str) -> dict[str, str]:
        """The STORAGE_S3_* environment of a dashboard process that keeps videos in ``bucket``."""
        return {
            "STORAGE_S3_BUCKET": bucket,
            "STORAGE_S3_ENDPOINT_URL": self.endpoint_url,
            "STORAGE_S3_REGION": REGION,
            "STORAGE_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "STORAGE_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        }
