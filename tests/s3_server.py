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
import sys
import uuid
from pathlib import Path

import boto3
import requests

from tests.local_server import LocalServer

ROOT = Path(__file__).resolve().parent.parent
#: Any credentials do for moto; a dashboard process gets them as STORAGE_S3_* like any others.
ACCESS_KEY_ID = "moto-test-key-id"
SECRET_ACCESS_KEY = "moto-test-secret-access-key"  # noqa: S105 (a test server's, not a secret)
REGION = "us-east-1"


class S3ServerError(RuntimeError):
    pass


class S3Server(LocalServer):
    BOUND = re.compile(r"Running on http://127\.0\.0\.1:(\d+)")
    NAME = "S3 server"
    Error = S3ServerError
    LOG_NAME = "moto.log"
    TMP_PREFIX = "moto-s3-"

    def __init__(self, tmpdir: str | os.PathLike | None = None, *, startup_timeout: float = 30):
        super().__init__(tmpdir, startup_timeout=startup_timeout)
        self._client = None

    @property
    def endpoint_url(self) -> str:
        return self.root_url

    def start(self) -> S3Server:
        if self.process is not None:
            return self
        env = {**os.environ, "TMPDIR": str(self.tmpdir), "PYTHONUNBUFFERED": "1"}
        self._spawn(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
            cwd=self.tmpdir,
            env=env,
        )
        return self

    def answers(self) -> bool:
        requests.get(f"{self.endpoint_url}/moto-api/", timeout=1)
        return True

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
