"""The real processes with LOG_FORMAT=json and METRICS_TOKEN, on the test database (PostgreSQL;
committed data, so they see it):

- gunicorn as the image runs it (taisly_dash/gunicorn_conf.py), two workers: every line it
  writes, its own and the app's, is one JSON object, the app's with the request id; /metrics
  adds up the requests of both workers (prometheus_client's multiprocess mode, in a directory
  gunicorn makes at start) and refuses a scrape without the token;
- the uploads cluster runs the forward a request queued, and its lines for that task carry the
  request's id.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django_q.conf import Conf
from prometheus_client.parser import text_string_to_metric_families

from posting.models import Post
from tests.integration.test_cluster_processes import Cluster
from tests.polling import wait_until
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_data, compose_url
from tests.processes import process_env as shared_process_env

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
TOKEN = "process-metrics-token-" + "y" * 32

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def process_env(settings, tmp_path):
    return shared_process_env(
        settings,
        tmp_path,
        leave_out=("LOG_", "PROMETHEUS_MULTIPROC_DIR", "METRICS_TOKEN"),
        LOG_FORMAT="json",
        METRICS_TOKEN=TOKEN,
    )


def json_lines(text: str) -> list[dict]:
    """Every line of a process's output, each one JSON object (else the test fails)."""
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"line {number} is not JSON: {line[:300]!r}\n{text[-3000:]}")
        assert isinstance(item, dict) and {"time", "level", "logger", "message"} <= item.keys()
        lines.append(item)
    return lines


@pytest.fixture
def gunicorn(process_env, tmp_path):
    """The image's gunicorn command on a free port, two workers, with no
    PROMETHEUS_MULTIPROC_DIR (as in the image: gunicorn makes one)."""
    log = tmp_path / "gunicorn.log"
    env = {**process_env, "TMPDIR": str(tmp_path)}
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            [GUNICORN, "--config", "python:taisly_dash.gunicorn_conf"]
            + ["--bind", "127.0.0.1:0", "--workers", "2", "--threads", "4"],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )

    def listening():
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{log.read_text()[-3000:]}")
        text = log.read_text()
        found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
        return found and text.count("Booting worker") >= 2 and int(found.group(1))

    try:
        port = wait_until(listening, what="gunicorn to listen", timeout=60, every=0.1)
        (metrics_dir,) = tmp_path.glob("taisly-dash-metrics-*")
        yield {"port": port, "log": log, "metrics_dir": metrics_dir, "process": process}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, str]:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        client.request("GET", path, headers=headers or {})
        response = client.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        client.close()


def test_gunicorn_logs_json_and_adds_up_both_workers_metrics(gunicorn):
    port, metrics_dir = gunicorn["port"], gunicorn["metrics_dir"]
    sent = {"count": 0}
    lock = threading.Lock()

    def healthz():
        status, _headers, _body = get(port, "/healthz")
        assert status == 200
        with lock:
            sent["count"] += 1

    def both_workers_counted():
        # New connections, several at once, until each worker has answered some.
        threads = [threading.Thread(target=healthz) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        pids = {p.stem.split("_")[-1] for p in metrics_dir.glob("counter_*.db")}
        return len(pids) >= 2

    wait_until(both_workers_counted, what="both workers to answer", timeout=60, every=0)

    status, headers, body = get(port, "/metrics")
    assert status == 401 and "taisly_dash_" not in body
    for _ in range(4):  # whichever worker answers the scrape, it adds up both
        status, headers, body = get(port, "/metrics", {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200, body[:500]
        counted = {
            tuple(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(body)
            for s in family.samples
            if s.name == "taisly_dash_http_requests_total"
        }
        key = (("method", "GET"), ("status", "200"), ("view", "healthz"))
        assert counted[key] == sent["count"]
        assert "taisly_dash_queue_depth" in body and "taisly_dash_sync_lag_seconds" in body

    # A request that logs (no cluster runs: /readyz says which), with the proxy's id.
    given = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    status, headers, _ = get(port, "/readyz", {"X-Request-ID": given})
    assert status == 503 and headers["X-Request-ID"] == given

    process = gunicorn["process"]
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)
    lines = json_lines(gunicorn["log"].read_text())
    assert any(
        line["logger"] == "gunicorn.error" and line["message"].startswith("Listening at")
        for line in lines
    )
    readyz = [line for line in lines if line["message"].startswith("readyz: ")]
    assert readyz and all(line["request_id"] == given for line in readyz)


def test_the_uploads_cluster_logs_a_requests_task_with_its_id(
    login, bob, workspace, connected_ws, video_file, process_env, tmp_path, monkeypatch
):
    # Queued for a real cluster, as production does (the tests otherwise run tasks inline).
    monkeypatch.setattr(Conf, "SYNC", False)
    given = "upload-request-0042"
    payload = compose_data(workspace, description="carried into the worker")
    with open(video_file(), "rb") as fh:
        payload["video"] = fh
        response = login(bob).post(compose_url(workspace), payload, HTTP_X_REQUEST_ID=given)
    assert response.status_code == 302 and response["X-Request-ID"] == given
    post = Post.objects.get()
    assert post.state == Post.State.QUEUED

    cluster = Cluster(process_env, "uploads", tmp_path / "uploads.log")
    try:

        def sent():
            if cluster.process.poll() is not None:
                raise AssertionError(f"the uploads cluster exited:\n{cluster.log()}")
            return Post.objects.get(pk=post.pk).state == Post.State.SENT

        def task_line_written():
            return "Task forward post" in cluster.log_path.read_text()

        wait_until(sent, what="the post sent by the cluster", timeout=90, every=0.2)
        wait_until(task_line_written, what="the task's last line", timeout=30, every=0.1)
    finally:
        code, _took = cluster.terminate()
    lines = json_lines(cluster.log_path.read_text())
    mine = [line for line in lines if line["request_id"] == given]
    messages = [line["message"] for line in mine]
    assert any(f"Post {post.code} sent to Taisly" in m for m in messages), messages
    assert any(m.startswith(f"Task forward post {post.pk}") for m in messages), messages
    assert code == 0
