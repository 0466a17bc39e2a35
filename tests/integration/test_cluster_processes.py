"""Real qcluster processes on the test database (PostgreSQL; committed data, so they see it):

- a cluster's health check (``python -m taisly_dash.health cluster``) finds its own running
  cluster and not another's, /readyz's logic then counts it, and SIGTERM stops it within 10 s;
- a forward cut off by a kill (SIGKILL of the uploads cluster after the video went out, before
  Taisly's answer came back) is settled by the stalled-send check and history, and the task's
  redelivery to a new cluster posts nothing a second time.

CI's image smoke test (tests/docker/smoke_image.py) runs the same processes in containers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_q.models import OrmQ, Task
from django_q.tasks import async_task

from posting.models import Post
from posting.sending import queueing, reconcile, stalled
from tests.polling import wait_until
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_data, compose_url, sandbox_posts
from tests.processes import process_env as shared_process_env

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def process_env(settings, tmp_path):
    """The environment of a process that works on this test's database, as a deployment's would."""
    return shared_process_env(settings, tmp_path)


class Cluster:
    def __init__(self, env: dict, name: str, log: Path) -> None:
        self.log_path = log
        self._log = open(log, "ab")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env={**env, "Q_CLUSTER_NAME": name},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its workers in its own group, for the kill
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def terminate(self) -> tuple[int, float]:
        """SIGTERM, as docker stop sends it: the exit code and the seconds it took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(15)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - started
        self.stop()
        return code, took

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # any worker left behind
        self._log.close()


@pytest.fixture
def clusters(process_env, tmp_path):
    started: list[Cluster] = []

    def start(name: str) -> Cluster:
        cluster = Cluster(process_env, name, tmp_path / f"qcluster-{name}-{len(started)}.log")
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


def health_check(env: dict, name: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "taisly_dash.health", "cluster"],
        cwd=ROOT,
        env={**env, "Q_CLUSTER_NAME": name},
        capture_output=True,
        text=True,
        timeout=60,
    )


def readiness(env: dict) -> dict[str, bool]:
    code = (
        "import django, json; django.setup(); from taisly_dash import health; "
        "print(json.dumps({k: c.ok for k, c in health.readiness().items()}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_clusters_health_check_sees_it_run_and_stop(process_env, clusters):
    cluster = clusters("default")
    try:
        wait_until(
            lambda: health_check(process_env, "default").returncode == 0,
            what="the default cluster's health check to pass",
            timeout=60,
            every=0.5,
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster.log()}") from None
    # The default cluster's status is on this host, but it is not the uploads cluster's.
    uploads = health_check(process_env, "uploads")
    assert uploads.returncode == 1
    assert "not running" in uploads.stdout
    ready = readiness(process_env)
    assert ready["cluster:default"] is True
    assert ready["cluster:uploads"] is False

    code, took = cluster.terminate()
    assert code == 0, cluster.log()
    assert took < 10
    # django-q2's status expires three seconds after its cluster stops.
    wait_until(
        lambda: health_check(process_env, "default").returncode == 1,
        what="the health check to see the cluster gone",
        timeout=15,
        every=0.5,
    )


def test_a_forward_cut_off_by_a_kill_is_settled_by_history_and_never_posted_twice(
    login, bob, workspace, connected_ws, video_file, sandbox, process_env, clusters, monkeypatch
):
    monkeypatch.setattr(queueing, "enqueue_forward", lambda post_id: None)
    payload = compose_data(workspace, description="cut off by a kill")
    with open(video_file(), "rb") as fh:
        payload["video"] = fh
        response = login(bob).post(compose_url(workspace), payload)
    assert response.status_code == 302, response.content.decode()[:2000]
    post = Post.objects.get()
    # Queued as the compose view queues it, but for a real cluster (the tests run tasks inline).
    async_task(queueing.FORWARD_TASK, post.pk, cluster=queueing.UPLOADS_CLUSTER, sync=False)
    # Taisly takes the whole video, then holds its answer long enough for the kill.
    sandbox.fault("timeout", delay=8)

    first = clusters("uploads")

    def body_sent():
        if first.process.poll() is not None:
            raise AssertionError(f"the uploads cluster exited:\n{first.log()}")
        row = Post.objects.get(pk=post.pk)
        return row.state == Post.State.SENDING and 0 < row.progress_total == row.progress_bytes

    wait_until(body_sent, what="the whole video sent", timeout=60, every=0.1)
    first.kill()

    # Taisly made the post; the dashboard never heard back.
    api_key = connected_ws["api_key"]
    # (Once a second: each look costs one of the key's 50 requests an hour.)
    wait_until(lambda: sandbox_posts(sandbox, api_key), what="Taisly's post", timeout=20, every=1)
    post.refresh_from_db()
    assert post.state == Post.State.SENDING

    # The stalled-send check (every 10 minutes) takes it for dead once the uploads timeout
    # passed, and history finds the one post.
    later = timezone.now() + stalled.stalled_after() + timedelta(seconds=1)
    assert stalled.stalled_sends_check(now=later) == 1
    post.refresh_from_db()
    assert post.state == Post.State.NEEDS_CHECK
    assert reconcile.post_recheck(post_id=post.pk) == "adopted"
    post.refresh_from_db()
    assert post.state == Post.State.SENT
    assert [p["id"] for p in sandbox_posts(sandbox, api_key)] == [post.taisly_id]

    # The killed cluster never acknowledged its task: after the uploads `retry` the broker hands
    # it out again (brought forward here). A new cluster runs it and posts nothing.
    assert OrmQ.objects.filter(key=queueing.UPLOADS_CLUSTER).count() == 1
    OrmQ.objects.filter(key=queueing.UPLOADS_CLUSTER).update(
        lock=timezone.now() - timedelta(hours=1)
    )
    second = clusters("uploads")
    try:
        done = wait_until(
            lambda: Task.objects.filter(func=queueing.FORWARD_TASK).first(),
            what="the redelivered forward to run",
            timeout=60,
            every=0.2,
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{second.log()}") from None
    assert done.result == "not claimed"
    assert len(sandbox_posts(sandbox, api_key)) == 1
    post.refresh_from_db()
    assert post.state == Post.State.SENT
    code, took = second.terminate()
    assert code == 0 and took < 10, second.log()
