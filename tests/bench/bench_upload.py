"""A large video through the dashboard (gunicorn, the `uploads` qcluster, the sandbox) against the
same file sent straight to the sandbox with curl, in one run.

    python -m tests.bench.bench_upload        (BENCH_UPLOAD_MB, default 400; BENCH_UPLOAD_ROUNDS, 3)

    curl ──────────────────────────────────────────────> sandbox          curl_seconds
    curl ──> gunicorn (stream to disk, probe, queue) ───┐                  wait_seconds
               uploads qcluster ──streamed multipart────┴──> sandbox       forward_seconds

Everything runs as it does in production, on a SQLite file (ORM broker): its own dashboard
database, media dir and sandbox under a temp dir. The video is a real 10-second 180×320 MP4
padded to size with an MP4 ``free`` box (sparse on disk), so both the dashboard's probe and the
sandbox's accept it and every byte still travels. Before the rounds, one small post per upload
worker goes through untimed, so no timed forward is a fresh worker's first task (its imports and
database connection; production workers are long-lived). Each round sends the video once with
curl and once through the dashboard; each figure is the median of the rounds (writes
bench-results/upload.json):

- ``wait_ratio``: the time until the dashboard answers "received and queued" over curl's time
  (goal ≤ 1.2); ``forward_ratio``: the worker's send over curl's time (goal ≤ 1.2);
  ``end_to_end_ratio``: upload start to SENT over curl's time;
- ``web_rss_growth_mb`` / ``worker_rss_growth_mb``: how far the gunicorn worker's and the
  qcluster processes' resident peaks rose from before the warm-up to the end (goal each < 64).

Every timed transfer starts in the same memory condition (``scratch_mb`` in the JSON;
BENCH_UPLOAD_SCRATCH_MB, default twice the file, 0 turns it off). On a VM that reports free
pages to its host (virtio-balloon free page reporting: free blocks are handed back a couple of
seconds after they were freed), writing into page frames that were never used or freed long ago
is several times slower than writing into frames freed a moment ago: 400 MB into a file takes
~0.3 s in fresh memory and ~0.08 s right after another 400 MB file was deleted. Each receiver
writes the whole video into a temp file, so without care the figures measured this, not the
software: the sandbox's temp file for curl reused what the previous round had just freed, while
the forward's could not (the dashboard keeps the stored video, as the product does), and round
1's curl found only fresh memory. So right before each timed transfer (curl, the dashboard
upload, the forward) the bench writes a scratch file of ``scratch_mb`` MiB and deletes it, and
the video is read into the page cache once before the rounds. The forward starts on its own
when the upload is queued, so the `uploads` cluster is held (SIGSTOP) from the start of a round
until the scratch file after the upload is gone (SIGCONT); the forward is timed by the worker
from its claim, and the time the bench held the cluster is left out of ``end_to_end_seconds``.

The two receivers run different HTTP servers: the sandbox (standing in for Taisly, whose server
the dashboard does not choose) runs Django's threaded ``wsgiref`` server, the dashboard runs
gunicorn (gthread), its production server, so gunicorn's own cost counts against the dashboard.
Both parse the multipart body with Django's parser into a temp file; the curl and forward
transfers end in the same sandbox server.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file path: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.helpers import MB, ROOT, write_results

KEY_ENV = "TAISLY_BENCH_API_KEY"  # the seeding child gets the key through its environment
GOAL_RATIO = 1.2
GOAL_RSS_MB = 64
#: The uploads cluster's workers (Q_UPLOAD_WORKERS, as in settings): one warm-up post each.
UPLOAD_WORKERS = int(os.environ.get("Q_UPLOAD_WORKERS", "2"))
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def padded_video(path: Path, file_mb: float) -> Path:
    """A real short MP4 followed by a ``free`` box that brings it to ``file_mb`` MiB."""
    from tests.videos import make_video

    make_video(path, seconds=10, fps=10)
    original = path.stat().st_size
    padding = int(file_mb * MB) - original
    with open(path, "ab") as fh:
        fh.write(struct.pack(">I", padding) + b"free")
        fh.flush()
        fh.truncate(original + padding)  # the rest of the box: a sparse hole of zeros
    return path


# --- processes ----------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    result, todo = [], [pid]
    while todo:
        current = todo.pop()
        for child in _children(current):
            result.append(child)
            todo.append(child)
    return result


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Peaks:
    """Resident peaks of some processes, from a reset to now (Linux clear_refs, as root or as
    the owner)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.before: dict[int, float] = {}

    def reset(self) -> None:
        for pid in self.pids:
            # Where it cannot be reset, the peak includes earlier ones: only an overstatement.
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            self.before[pid] = _status_kb(pid, "VmRSS") / 1024

    def growth_mb(self) -> float:
        growth = 0.0
        for pid in self.pids:
            try:
                peak = _status_kb(pid, "VmHWM") / 1024
            except OSError:
                continue  # a process that ended (a recycled worker) reports nothing
            growth = max(growth, peak - self.before.get(pid, peak))
        return round(growth, 1)


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    handle = open(log, "ab")  # noqa: SIM115 (lives as long as the process)
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)


def wait_for_log(log: Path, pattern: str, process: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text(errors="replace"))
        if found:
            return found.group(1)
        if process.poll() is not None:
            raise SystemExit(f"{log.name}: exited early:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    raise SystemExit(f"{log.name}: no {pattern!r} within {timeout} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the dashboard's side -------------------------------------------------------------------


def seed() -> None:
    """In a child with the bench environment: an owner, a workspace with the key, a session."""
    from tests.bench.helpers import setup_django

    setup_django()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.models import Membership, User, Workspace
    from posting import taisly
    from posting.connection import keys
    from posting.models import Platform

    user = User.objects.create_user(email="bench@example.test", password="bench-pass-123456")
    workspace = Workspace.objects.create(name="Bench", kind=Workspace.Kind.CLIENT)
    Membership.objects.create(workspace=workspace, user=user, role=Membership.Role.OWNER)
    api_key = os.environ[KEY_ENV]
    keys.connection_connect(workspace=workspace, api_key=api_key, plan=None, actor=user)
    with taisly.TaislyClient(api_key) as client:
        for item in client.platforms():
            Platform.objects.get_or_create(
                workspace=workspace,
                taisly_id=item.id,
                defaults={"network": item.network, "name": item.name},
            )
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    print(json.dumps({"workspace": str(workspace.code), "session": session.session_key}))


def upload_through_dashboard(
    base: str, seeded: dict, video: Path, tmp: Path
) -> tuple[float, float]:
    """POST the compose form with curl, as the sandbox gets it; returns (seconds until it
    answered "received and queued", wall-clock start)."""
    import requests

    session = requests.Session()
    session.cookies.set("sessionid", seeded["session"])
    url = f"{base}/w/{seeded['workspace']}/posts/new/"
    page = session.get(url, timeout=30)
    page.raise_for_status()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
    platforms = re.findall(r'name="platforms" value="([^"]+)"', page.text)[:2]
    headers = tmp / "dashboard-headers"
    cookies = f"sessionid={seeded['session']}; csrftoken={session.cookies['csrftoken']}"
    headers.write_text(f"Cookie: {cookies}\nReferer: {url}\n")
    fields = [
        f"csrfmiddlewaretoken={csrf}",
        f"token={token}",
        *[f"platforms={p}" for p in platforms],
        "description=Benchmark upload",
        "when=now",
        "cover_second=1",
        f"video=@{video};type=video/mp4",
    ]
    started_wall = time.time()
    status, seconds = _curl(url, headers, fields)
    headers.unlink()
    if status != 302:
        raise SystemExit(f"The dashboard answered {status}.")
    return seconds, started_wall


def free_just_used_memory(directory: Path, scratch_mb: float) -> None:
    """Write a scratch file of ``scratch_mb`` MiB and delete it: the next receiver's writes land
    in page frames freed a moment ago (see the module docstring)."""
    if scratch_mb <= 0:
        return
    path = directory / "scratch"
    block = bytes(MB)  # written, not a hole: every page of the scratch file is really allocated
    with open(path, "wb") as fh:
        for _ in range(max(1, round(scratch_mb))):
            fh.write(block)
    path.unlink()  # dirty and never written back: freeing it costs no disk I/O


def signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _curl(url: str, headers: Path, fields: list[str]) -> tuple[int, float]:
    completed = subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--output",
            "/dev/null",
            "--write-out",
            "%{http_code} %{time_total}",
            "--header",
            f"@{headers}",
            *[arg for field in fields for arg in ("--form", field)],
            url,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"curl failed: {completed.stderr}")
    status, seconds = completed.stdout.split()
    return int(status), float(seconds)


def curl_to_sandbox(
    base_url: str, api_key: str, platform_ids: list[str], video: Path, tmp: Path
) -> float:
    headers = tmp / "curl-headers"
    headers.write_text(f"Authorization: Bearer {api_key}\n")  # not in argv, where ps shows it
    fields = [
        f"platforms={json.dumps(platform_ids)}",
        "description=Benchmark upload (curl)",
        f"video=@{video};type=video/mp4",
    ]
    status, seconds = _curl(f"{base_url}/post", headers, fields)
    headers.unlink()
    if status != 200:
        raise SystemExit(f"The sandbox answered {status}.")
    return seconds


def main() -> int:
    file_mb = float(os.environ.get("BENCH_UPLOAD_MB", "400"))
    repeat = int(os.environ.get("BENCH_UPLOAD_ROUNDS", "3"))
    scratch_mb = float(os.environ.get("BENCH_UPLOAD_SCRATCH_MB", str(2 * file_mb)))
    if not shutil.which("curl"):
        raise SystemExit("curl is needed (apt-get install curl).")
    from tests.sandbox_server import SandboxServer

    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp_name:
        tmp = Path(tmp_name)
        with SandboxServer(tmp / "sandbox") as sandbox:
            account = sandbox.create_account(platforms=("TikTok", "Instagram"))
            env = {
                **os.environ,
                "DJANGO_ENV": "development",
                "DEBUG": "false",
                "DATABASE_URL": f"sqlite:///{tmp / 'dashboard.sqlite3'}",
                "MEDIA_ROOT": str(tmp / "media"),
                "FILE_UPLOAD_TEMP_DIR": "",
                "TAISLY_BASE_URL": sandbox.base_url,
                "Q_WORKERS": "1",
                "Q_UPLOAD_WORKERS": "1",
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
            }
            subprocess.run(
                [PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
            )
            seeded = json.loads(
                subprocess.run(
                    [PYTHON, "-m", "tests.bench.bench_upload", "--seed"],
                    cwd=ROOT,
                    env={**env, KEY_ENV: account["api_key"]},
                    capture_output=True,
                    text=True,
                    check=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            print(f"Making a {file_mb:g} MiB video…")
            video = padded_video(tmp / "bench.mp4", file_mb)

            web_log, worker_log = tmp / "gunicorn.log", tmp / "uploads.log"
            web = start(
                [
                    GUNICORN,
                    "taisly_dash.wsgi",
                    "--worker-class",
                    "gthread",
                    "--workers",
                    "1",
                    "--threads",
                    "4",
                    "--bind",
                    "127.0.0.1:0",
                    "--timeout",
                    "900",
                    "--log-level",
                    "info",
                ],
                env,
                web_log,
            )
            worker = start(
                [PYTHON, "manage.py", "qcluster"], {**env, "Q_CLUSTER_NAME": "uploads"}, worker_log
            )
            try:
                port = wait_for_log(web_log, r"Listening at: http://127\.0\.0\.1:(\d+)", web)
                web_worker = int(wait_for_log(web_log, r"Booting worker with pid: (\d+)", web))
                base = f"http://127.0.0.1:{port}"
                time.sleep(3)  # the cluster forks its workers
                if worker.poll() is not None:
                    raise SystemExit(f"qcluster exited:\n{worker_log.read_text()[-3000:]}")

                platform_ids = [p["_id"] for p in account["platforms"][:2]]
                cluster = [worker.pid, *descendants(worker.pid)]
                web_peaks = Peaks([web_worker])
                worker_peaks = Peaks(cluster)
                with open(video, "rb") as fh:  # into the page cache, for every round alike
                    while fh.read(MB):
                        pass
                web_peaks.reset()
                worker_peaks.reset()
                # Warm-up, not timed: one small post per upload worker, sent together, so that
                # no timed forward is a fresh worker's first task (its imports, its database
                # connection). Production workers are long-lived and forward many videos.
                small = padded_video(tmp / "warm-up.mp4", 2)
                signal_all(cluster, signal.SIGSTOP)
                try:
                    for _ in range(UPLOAD_WORKERS):
                        warm_wait, warm_started = upload_through_dashboard(base, seeded, small, tmp)
                finally:
                    warm_resumed = time.time()
                    signal_all(cluster, signal.SIGCONT)
                wait_until_sent(env, warm_started, warm_resumed, warm_wait)
                rounds = []
                for number in range(1, repeat + 1):
                    print(
                        f"round {number}/{repeat}: curl straight to the sandbox, then the same "
                        "file through the dashboard…"
                    )
                    # The uploads cluster is held still until its forward may start, so that
                    # the forward, too, begins right after the scratch file is freed.
                    signal_all(cluster, signal.SIGSTOP)
                    try:
                        free_just_used_memory(tmp, scratch_mb)
                        curl_seconds = curl_to_sandbox(
                            sandbox.base_url, account["api_key"], platform_ids, video, tmp
                        )
                        free_just_used_memory(tmp, scratch_mb)
                        wait_seconds, started = upload_through_dashboard(base, seeded, video, tmp)
                        free_just_used_memory(tmp, scratch_mb)
                    finally:
                        resumed = time.time()
                        signal_all(cluster, signal.SIGCONT)
                    outcome = wait_until_sent(env, started, resumed, wait_seconds)
                    rounds.append({"curl": curl_seconds, "wait": wait_seconds, **outcome})
                web_growth = web_peaks.growth_mb()
                worker_growth = worker_peaks.growth_mb()
            finally:
                stop(web)
                stop(worker)

    # Each figure is the median of its rounds: one slow round on a busy machine (curl's or
    # the dashboard's) then moves neither side.
    curl_seconds = statistics.median(r["curl"] for r in rounds)
    wait_seconds = statistics.median(r["wait"] for r in rounds)
    forward_seconds = statistics.median(r["forward_seconds"] for r in rounds)
    end_to_end = statistics.median(r["end_to_end_seconds"] for r in rounds)
    results = {
        "file_mb": file_mb,
        "rounds": repeat,
        "scratch_mb": scratch_mb,
        "memory_condition": (
            f"a {scratch_mb:g} MiB scratch file written and deleted right before each timed "
            "transfer; the video read into the page cache first; one untimed warm-up post per "
            "upload worker"
            if scratch_mb > 0
            else "as it comes (no scratch file)"
        ),
        "curl_seconds": round(curl_seconds, 2),
        "wait_seconds": round(wait_seconds, 2),
        "forward_seconds": round(forward_seconds, 2),
        "end_to_end_seconds": round(end_to_end, 2),
        "wait_ratio": round(wait_seconds / curl_seconds, 2),
        "forward_ratio": round(forward_seconds / curl_seconds, 2),
        "end_to_end_ratio": round(end_to_end / curl_seconds, 2),
        "each_round": [
            {key: round(value, 2) for key, value in r.items() if isinstance(value, float)}
            for r in rounds
        ],
        "web_rss_growth_mb": web_growth,
        "worker_rss_growth_mb": worker_growth,
        "state": "sent" if all(r["state"] == "sent" for r in rounds) else "not sent",
        "goal_ratio": GOAL_RATIO,
        "goal_rss_mb": GOAL_RSS_MB,
    }
    results["passed"] = (
        results["state"] == "sent"
        and results["wait_ratio"] <= GOAL_RATIO
        and results["forward_ratio"] <= GOAL_RATIO
        and web_growth < GOAL_RSS_MB
        and worker_growth < GOAL_RSS_MB
    )
    for key in (
        "curl_seconds",
        "wait_seconds",
        "forward_seconds",
        "end_to_end_seconds",
        "wait_ratio",
        "forward_ratio",
        "end_to_end_ratio",
        "web_rss_growth_mb",
        "worker_rss_growth_mb",
    ):
        print(f"  {key:22} {results[key]}")
    path = write_results("upload", results)
    print(f"  {'ok' if results['passed'] else 'GOAL MISSED'}; written to {path.relative_to(ROOT)}")
    # A missed goal is a verdict (printed, "passed" in the JSON), not a failure to run.
    return 0


def wait_until_sent(
    env: dict, started: float, resumed: float, wait_seconds: float, timeout: float = 900
) -> dict:
    """Poll the dashboard's database (in a child, with its settings) until the post is done."""
    script = (
        "import json, time\n"
        "from tests.bench.helpers import setup_django\n"
        "setup_django()\n"
        "from posting.models import Post\n"
        f"deadline = time.time() + {timeout}\n"
        "while time.time() < deadline:\n"
        "    post = Post.objects.order_by('-created_at', '-id').first()\n"
        "    if post and post.state not in ('queued', 'sending'):\n"
        "        break\n"
        "    time.sleep(0.1)\n"
        "print(json.dumps({'state': post.state, 'reason': post.state_reason,\n"
        "    'forward': (post.sent_at - post.sending_started_at).total_seconds()\n"
        "        if post.sent_at else None,\n"
        "    'sent_at': post.sent_at.timestamp() if post.sent_at else None}))\n"
    )
    completed = subprocess.run(
        [PYTHON, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    done = json.loads(completed.stdout.strip().splitlines()[-1])
    held = resumed - (started + wait_seconds)
    if done["state"] != "sent":
        raise SystemExit(f"The post ended {done['state']}: {done['reason']}")
    return {
        "state": done["state"],
        "forward_seconds": done["forward"],
        # Upload start to SENT, less the time the bench held the cluster after the answer.
        "end_to_end_seconds": done["sent_at"] - started - max(0.0, held),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", action="store_true")
    if parser.parse_args().seed:
        seed()
        sys.exit(0)
    sys.exit(main())
