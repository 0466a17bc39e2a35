"""Scale-out, as several machines would run it: two web processes (gunicorn) and two of each
cluster (default, uploads), every one with its own empty media directory (MEDIA_ROOT and the
upload temp dir), on one PostgreSQL database and one bucket on moto's S3 server, posting to the
sandbox over HTTP.

An upload through web A is forwarded by an uploads worker that never had the file on its disk
(every other process's media directory stays empty, and the sandbox receives the exact bytes);
the sync that follows and the alert it raises happen once, not once per cluster (one history
request, one alert, one email, with both default clusters running and two schedulers racing);
and after retention (``POST_VIDEO_RETAIN_DAYS=0``, the clean-up task run by a default cluster)
nothing is left in the bucket.

The test makes a PostgreSQL database of its own on the server of DATABASE_URL (migrated, then
dropped), so it runs only when the suite does on PostgreSQL (``postgres_only``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import requests
from django.urls import reverse

from posting.models import Alert, Post
from tests.polling import wait_until
from tests.posting.test_quota_processes import ROOT, PostgresProject
from tests.posting.upload_fixtures import sandbox_posts

pytestmark = pytest.mark.postgres_only

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


class ScaleOut(PostgresProject):
    """The shared database and environment, and the processes started on them."""

    def __init__(self, tmp: Path, sandbox_url: str, storage_env: dict[str, str]) -> None:
        super().__init__(tmp, sandbox_url)
        self.name = f"taisly_scale_out_{uuid.uuid4().hex[:8]}"
        self.url = self.server.rsplit("/", 1)[0] + "/" + self.name
        self.emails = tmp / "emails"
        self.emails.mkdir()
        self.env.update(
            {
                "DATABASE_URL": self.url,
                **storage_env,
                # Setup and scripts keep their (unused) media apart from the processes'.
                "MEDIA_ROOT": str(tmp / "media-scripts"),
                "EMAIL_BACKEND": "tests.storage.mail_backend.DirectoryBackend",
                "TEST_EMAIL_DIR": str(self.emails),
                "Q_WORKERS": "1",
                "Q_UPLOAD_WORKERS": "1",
                # The first sync a few seconds after the send, when the sandbox (publishing
                # a second after) has the result; retention keeps nothing once sent.
                "SYNC_FIRST_SECONDS": "3",
                "POST_VIDEO_RETAIN_DAYS": "0",
            }
        )
        self.processes: dict[str, subprocess.Popen] = {}
        self.media: dict[str, Path] = {}

    def script(self, *args: str, stdin: str = "", timeout: float = 60) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "tests.storage.scale_script", *args],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stderr[-3000:] + self.tails()
        return json.loads(done.stdout.strip().splitlines()[-1])

    def start(self, name: str, command: list[str], **env: str) -> subprocess.Popen:
        media = self.tmp / f"media-{name}"
        self.media[name] = media
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 (the child holds it)
        with log:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={
                    **self.env,
                    "MEDIA_ROOT": str(media),
                    "FILE_UPLOAD_TEMP_DIR": str(media / "tmp"),
                    **env,
                },
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def web(self, name: str) -> str:
        """The base URL of web process ``name`` once it answers /healthz."""

        def port() -> int | None:
            assert self.processes[name].poll() is None, self.tails()
            found = _LISTENING.search(self.log(name))
            return int(found.group(1)) if found else None

        base = f"http://127.0.0.1:{wait_until(port, what=f'{name} listening', timeout=30)}"

        def healthy() -> bool:
            with contextlib.suppress(requests.ConnectionError):
                return requests.get(f"{base}/healthz", timeout=5).status_code == 200
            return False

        wait_until(healthy, what=f"{name} healthy", timeout=30, every=0.2)
        return base

    def local_files(self) -> dict[str, list[str]]:
        """Every file in each process's media directory (the upload temp dir included)."""
        return {
            name: sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file())
            for name, media in self.media.items()
        }

    def sql(self, query: str, *params) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def wait_for_task(self, *funcs: str) -> None:
        """Until a cluster has saved the result of a task running one of ``funcs`` (its monitor
        saves it just after the task returns)."""
        query = "SELECT count(*) FROM django_q_task WHERE func = ANY(%s)"
        wait_until(
            lambda: self.sql(query, list(funcs))[0][0] >= 1,
            what=f"a result of {' or '.join(funcs)}",
            timeout=20,
        )

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def tails(self) -> str:
        return "".join(f"\n--- {name}\n{self.log(name)[-1500:]}" for name in self.processes)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
            # Whatever is left of its process group (a cluster's workers) goes too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


@pytest.fixture
def scale_out(sandbox, s3_server, tmp_path):
    bucket = s3_server.create_bucket()
    project = ScaleOut(tmp_path, sandbox.base_url, s3_server.env(bucket))
    project.bucket = bucket
    project.create()
    yield project
    project.stop_all()
    project.drop()


def test_two_machines_of_each_kind_share_one_database_and_one_bucket(
    scale_out, sandbox, sandbox_account, s3_server, video_file
):
    started = time.monotonic()
    project = scale_out
    seeded = project.script("seed", stdin=json.dumps(sandbox_account))
    python = [sys.executable, "manage.py", "qcluster"]
    gunicorn = [GUNICORN, "taisly_dash.wsgi", "--bind", "127.0.0.1:0", "--workers", "1"]
    gunicorn += ["--worker-class", "gthread", "--threads", "2", "--timeout", "120"]
    for name in ("web-a", "web-b"):
        project.start(name, gunicorn)
    clusters = [project.start(f"default-{i}", python) for i in (1, 2)]
    clusters += [project.start(f"uploads-{i}", python, Q_CLUSTER_NAME="uploads") for i in (1, 2)]
    web_a, web_b = project.web("web-a"), project.web("web-b")
    up = project.script("up", *(str(c.pid) for c in clusters))
    print(f"all up after {time.monotonic() - started:.1f} s: {up}")

    # --- An upload through web A, forwarded from the bucket by an uploads worker. --------------
    browser = requests.Session()
    browser.cookies.set("sessionid", seeded["session"])
    compose = reverse("posting:compose", kwargs={"code": seeded["workspace"]})
    assert browser.get(f"{web_a}{compose}", timeout=10).status_code == 200
    video = video_file("scale-out.mp4")
    with open(video, "rb") as fh:
        answer = browser.post(
            f"{web_a}{compose}",
            data={
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
                "token": str(uuid.uuid4()),
                "platforms": [seeded["platform"]],
                "description": "Made on one machine, sent from another #fail",
                "when": "now",
                "cover_second": "1",
            },
            files={"video": (video.name, fh, "video/mp4")},
            allow_redirects=False,
            timeout=60,
        )
    assert answer.status_code in (200, 302), answer.text[:2000]
    state = f"SELECT state FROM {Post._meta.db_table}"
    wait_until(
        lambda: project.sql(state) == [(Post.State.SENT,)],
        what="the post sent",
        timeout=60,
        every=0.2,
    )
    print(f"sent after {time.monotonic() - started:.1f} s")
    project.wait_for_task("posting.tasks.forward_post")  # its result saved by its cluster
    # Its thumbnail, made by a default cluster on yet another machine from the bucket.
    project.wait_for_task("posting.tasks.make_thumbnail")
    report = project.script("post")
    assert report["forwards"] == ["sent"], report
    kept, thumbnail = report["post"]["video"], report["post"]["thumbnail"]
    assert thumbnail.startswith("thumbnails/"), report
    assert s3_server.keys(project.bucket) == sorted([kept, thumbnail])
    # No process kept the video on its disk: web A's temp file is gone, and the uploads
    # worker that sent it (and the default one that took its frame) read it from the bucket,
    # never from a disk of its own.
    assert project.local_files() == {name: [] for name in project.processes}, project.local_files()
    assert sandbox.state()["lastUpload"]["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
    # Web B, another machine, shows the same post (one database).
    post_code = project.sql(f"SELECT code FROM {Post._meta.db_table}")[0][0]
    page = reverse("posting:post", kwargs={"code": seeded["workspace"], "post_code": post_code})
    assert browser.get(f"{web_b}{page}", timeout=10).status_code == 200

    # --- One sync, one alert, one email, with two default clusters and racing schedulers. -------
    wait_until(
        lambda: (
            [
                r["status"]
                for p in sandbox_posts(sandbox, sandbox_account["api_key"])
                for r in p["result"]
            ]
            == ["FAILED"]
        ),
        what="the sandbox to fail the post",
        timeout=20,
        every=0.2,
    )
    project.script("drive")
    emailed = f"SELECT count(*) FROM {Alert._meta.db_table} WHERE emailed_at IS NOT NULL"
    wait_until(lambda: project.sql(emailed) == [(1,)], what="the alert emailed", timeout=30)
    # Give a second run every chance to show up: the other cluster's scheduler and a second
    # racing cycle, then the queue drained.
    project.script("drive")
    wait_until(
        lambda: project.sql("SELECT count(*) FROM django_q_ormq") == [(0,)],
        what="the queue empty",
        timeout=30,
    )
    # The read is made by the dispatcher's sync task or, while results are due, by the results
    # watch (one in all, claimed in the shared cache): whichever, exactly one.
    project.wait_for_task("posting.tasks.sync_connection", "posting.tasks.results_watch")
    report = project.script("post")
    print(f"synced after {time.monotonic() - started:.1f} s: {report}")
    sent_at = report["post"]["sent_at"]
    assert report["post"]["results"] == ["FAILED"]
    assert report["alerts"] == [Alert.Kind.FAILED] and report["emailed"] == 1
    # One history request after the send, by the one sync that ran (the second cycle found
    # nothing due: the result is final).
    assert [t for t in report["history_requests"] if t > sent_at] != []
    assert len([t for t in report["history_requests"] if t > sent_at]) == 1, report
    watched = sum(int(result.split()[0]) for result in report["watched"] if result)
    assert report["syncs"].count("synced") + watched == 1, report
    messages = [
        part
        for path in project.emails.iterdir()
        for part in path.read_text().split("-" * 79)
        if "Subject:" in part
    ]
    assert len(messages) == 1, messages
    assert "To: owner@scale.test" in messages[0]

    # --- Retention: nothing left in the bucket but the thumbnail, which stays with its post. ----
    done = project.script("cleanup")
    assert done["success"] and done["result"].startswith("1 videos"), done
    assert s3_server.keys(project.bucket) == [thumbnail]
    assert project.script("post")["post"]["deleted"] is True
    assert project.local_files() == {name: [] for name in project.processes}

    project.stop_all()
    elapsed = time.monotonic() - started
    print(f"scale-out test: {elapsed:.1f} s")
    assert elapsed < 120
