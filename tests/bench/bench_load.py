"""Many people at once: 50 simulated, logged-in people for 60 s against the whole production
stack, and whether any of their requests failed.

    python -m tests.bench.bench_load   [--users 50] [--seconds 60] [--uploaders 5]
                                       [--upload-mb 50] [--think 1.0]
                                       (BENCH_LOAD_DATABASE_URL, default a local PostgreSQL
                                       database taisly_bench_load, dropped and made anew)

The stack, each part a real process on 127.0.0.1, on the settings production uses
(``DJANGO_ENV=production``, ``DEBUG`` off, fresh secrets, static files collected, requests
carrying the proxy's ``X-Forwarded-Proto: https``, ``DATABASE_CONN_MAX_AGE=60`` as the README
recommends):

- gunicorn with the image's configuration (``--config python:taisly_dash.gunicorn_conf``:
  gthread, 2 workers × 8 threads), bound to 127.0.0.1;
- the default qcluster (sync, alerts, schedules) and the ``uploads`` qcluster, each with its
  default workers, on a fresh PostgreSQL database the bench makes;
- the Taisly sandbox over HTTP (``manage.py sandbox``, tests/sandbox_server.py).

The seed: ``manage.py demo`` (two client workspaces with weeks of history, repost rules and the
alerts that history raises; the demo's sandbox keys), then ``--users`` people of the bench
(tests/bench/load_seed.py), each a member of three workspaces (editor of one demo workspace,
viewer of the other, owner of their own); ``--uploaders`` of them have their own workspace
connected to its own PRO sandbox key, so each upload is by a different person into a different
workspace (a person may have only a few uploads in flight, a workspace only so much video).
``WORKSPACE_VIDEO_STORAGE_MB`` is set high: the run keeps far more video than a workspace would.

Everyone logs in through the real log-in form (the proxy's ``X-Forwarded-For`` gives each a
documentation address, 192.0.2.x, and ``ALLAUTH_TRUSTED_PROXY_COUNT=1`` trusts it, as a
deployment behind one proxy is told to in the README; else allauth's 30 log-ins a minute per
address would refuse the office), then for ``--seconds`` (tests/bench/load_users.py):

- the uploaders each send a ``--upload-mb`` MiB video through compose (a real short vertical MP4
  padded to size), as htmx does, and poll its progress fragment every second until it answers
  "done", then send the next: ``--uploaders`` uploads in flight at any moment;
- everyone else opens pages of their workspaces one after another with a think time of
  ``--think`` s (±50 %) between them: the overview, a workspace's page, history, the calendar
  month and week, a post's page, alerts (the workspace's and in every workspace), and the polls
  of the quota meter and the alert badge; each full page is followed by the requests its
  ``hx-trigger="load"`` elements make (quota strip, alert badges, a post page's "seen").

When the window is over, the bench waits until the uploads cluster has forwarded every upload
and checks that each ended SENT. Prints and writes bench-results/load.json:

- ``users``, ``seconds`` (the window as it ran), ``requests`` (every request in the window, the
  uploads included), ``rps``;
- ``errors``: requests that got a 5xx, no answer (connection error, a 60 s timeout) or another
  status than their kind expects (a page 200, the progress fragment 200 or 286, "seen" 204, an
  upload 200 with the progress fragment), log-ins that failed, and uploads that did not end
  SENT; ``error_samples`` shows the first few;
- ``p50_ms`` / ``p99_ms`` over every request of the window except the uploads (whose time is
  their body's transfer; they have their own figures in ``kinds``), and per kind in ``kinds``;
- ``web_rss_mb`` (gunicorn's master and workers) and ``worker_rss_mb`` per cluster (its
  qcluster process and every process it forked), resident memory summed when the window ended
  (each process's in ``processes``); a sum of RSS counts the pages forked processes share once
  per process, so ``web_pss_mb`` and ``worker_pss_mb`` give the proportional sizes beside them,
  which add up to what the processes take together.

"passed" (goal met) means ``errors`` == 0: at 50 people every request was answered as expected
and every upload reached Taisly. The latencies and memory are reported, not judged: on this
2-CPU machine the bench's own 50 client threads, the sandbox and the machine's other work share
the CPUs with the dashboard (``load_average_start`` tells how busy it was).

History: the first run at 50 people lost 4 of 1,969 requests to "connection reset by peer":
gunicorn's default keep-alive (2 s) closed idle connections on a timer, and a request sent as
one closed was lost (a proxy keeping connections to gunicorn answers such a request with a
502). taisly_dash/gunicorn_conf.py now keeps idle connections 75 s, longer than a proxy keeps
its own (tests/integration/test_gunicorn_keepalive.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

if __package__ in (None, ""):  # run as a file path: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.helpers import (
    PROXY_HEADERS,
    RESULTS_DIR,
    ROOT,
    ensure_database,
    load_average,
    production_env,
    write_results,
)
from tests.polling import wait_until

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/taisly_bench_load"
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
CLUSTERS = ("default", "uploads")
#: How long the uploads cluster gets, after the window, to forward what it was given.
DRAIN_SECONDS = 300


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


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process it forked, and theirs."""
    tree, todo = [pid], [pid]
    while todo:
        for child in _children(todo.pop()):
            tree.append(child)
            todo.append(child)
    return tree


def _kb(path: str, field: str) -> float:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass  # ended meanwhile
    return 0


def rss_mb(pid: int) -> float:
    """Resident memory; summed over forked processes it counts their shared pages each time."""
    return _kb(f"/proc/{pid}/status", "VmRSS") / 1024


def pss_mb(pid: int) -> float:
    """Proportional set size: each shared page split between the processes sharing it, so a sum
    over processes is what they take together."""
    return _kb(f"/proc/{pid}/smaps_rollup", "Pss") / 1024


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    handle = open(log, "ab")  # noqa: SIM115 (lives as long as the process)
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own group: stopped with every process it forked
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # a worker left behind


def wait_for_log(log: Path, pattern: str, process: subprocess.Popen, count: int = 1) -> list:
    def seen() -> list | None:
        if process.poll() is not None:
            raise SystemExit(f"{log.name}: exited early:\n{log.read_text()[-3000:]}")
        found = re.findall(pattern, log.read_text(errors="replace"))
        return found if len(found) >= count else None

    return wait_until(seen, what=f"{pattern!r} in {log.name}", timeout=120, every=0.2)


def manage(env: dict, *args: str, log: Path) -> str:
    with open(log, "ab") as errors:
        done = subprocess.run(
            [PYTHON, "manage.py", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errors
        )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{log.read_text()[-3000:]}")
    return done.stdout.decode()


# --- the run ------------------------------------------------------------------------------------


def run(
    *,
    users: int,
    seconds: float,
    uploaders: int,
    upload_mb: float,
    think: float,
    database_url: str,
    workdir: Path,
) -> dict:
    """Set the stack up in ``workdir``, run the people, and return the figures (no verdict)."""
    from tests.bench.bench_upload import padded_video
    from tests.bench.load_users import Person, Plan, Recorder, run_people
    from tests.sandbox_server import SandboxServer

    if not 0 <= uploaders < users:
        raise SystemExit("--uploaders must be fewer than --users (someone has to browse).")
    logs = workdir / "logs"
    logs.mkdir()
    with SandboxServer(workdir / "sandbox") as sandbox:
        env = production_env(
            workdir,
            database_url,
            MEDIA_ROOT=str(workdir / "media"),
            FILE_UPLOAD_TEMP_DIR="",
            TAISLY_BASE_URL=sandbox.base_url,
            ALLAUTH_TRUSTED_PROXY_COUNT="1",
            WORKSPACE_VIDEO_STORAGE_MB="1000000",
        )
        print("A fresh database, static files, the demo and the people…", flush=True)
        ensure_database(database_url, fresh=True)
        setup_log = logs / "setup.log"
        manage(env, "migrate", "--noinput", "-v0", log=setup_log)
        manage(env, "collectstatic", "--noinput", "-v0", log=setup_log)
        # The demo refuses production; it runs once on the same database, keys and sandbox.
        demo_env = {
            **env,
            "DJANGO_ENV": "development",
            "SANDBOX_DATABASE_URL": f"sqlite:///{sandbox.db_path}",
        }
        (logs / "demo.log").write_text(manage(demo_env, "demo", log=setup_log))
        keys = [
            sandbox.create_account(plan="PRO", platforms=("TikTok", "Instagram"))["api_key"]
            for _ in range(uploaders)
        ]
        seeded = subprocess.run(
            [PYTHON, "-m", "tests.bench.load_seed"],
            cwd=ROOT,
            env={**env, "LOAD_SEED_USERS": str(users), "LOAD_SEED_KEYS": json.dumps(keys)},
            capture_output=True,
            text=True,
        )
        if seeded.returncode != 0:
            raise SystemExit(f"Seeding failed:\n{seeded.stderr[-3000:]}")
        seed = json.loads(seeded.stdout.strip().splitlines()[-1])
        video = padded_video(workdir / "load.mp4", upload_mb) if uploaders else None

        web = start(
            [GUNICORN, "--config", "python:taisly_dash.gunicorn_conf", "--bind", "127.0.0.1:0"],
            env,
            logs / "gunicorn.log",
        )
        clusters = {
            name: start(
                [PYTHON, "manage.py", "qcluster"],
                {**env, "Q_CLUSTER_NAME": name},
                logs / f"qcluster-{name}.log",
            )
            for name in CLUSTERS
        }
        try:
            port = wait_for_log(
                logs / "gunicorn.log", r"Listening at: http://127\.0\.0\.1:(\d+)", web
            )[0]
            workers = int(env.get("WEB_WORKERS", "2"))
            wait_for_log(logs / "gunicorn.log", r"Booting worker with pid", web, count=workers)
            for name, process in clusters.items():
                wait_for_log(logs / f"qcluster-{name}.log", r"Q Cluster .+ running\.", process)
            base = f"http://127.0.0.1:{port}"
            _healthy(base)

            plan = Plan(
                base=base,
                people=[
                    Person(p["email"], p["workspaces"], p["upload_to"]) for p in seed["people"]
                ],
                password=seed["password"],
                posts=seed["posts"],
                seconds=seconds,
                think=think,
                video=video,
            )
            recorder = Recorder()
            print(
                f"{users} people log in, then {seconds:g} s: {users - uploaders} browsing, "
                f"{uploaders} uploading {upload_mb:g} MiB videos…",
                flush=True,
            )
            outcome = run_people(plan, recorder)
            memory = {
                "web": _memory(web.pid),
                **{name: _memory(process.pid) for name, process in clusters.items()},
            }
            print("Waiting for the uploads cluster to forward every upload…", flush=True)
            ends = _upload_ends(env, outcome["uploads"])
            for state, count in ends.items():
                if state != "sent":
                    recorder.error("upload_end", f"{count} upload(s) ended {state}")
            crashes = _tracebacks(logs)
        finally:
            stop(web)
            for process in clusters.values():
                stop(process)
    return _figures(users, uploaders, upload_mb, think, recorder, outcome, memory, ends, crashes)


def _healthy(base: str) -> None:
    import requests

    answer = requests.get(base + "/healthz", headers=PROXY_HEADERS, timeout=30)
    if answer.status_code != 200:
        raise SystemExit(f"/healthz answered {answer.status_code}: {answer.text[:500]}")


def _memory(pid: int) -> dict:
    pids = process_tree(pid)
    each = {str(p): round(rss_mb(p), 1) for p in pids}
    return {
        "rss_mb": round(sum(each.values()), 1),
        "pss_mb": round(sum(pss_mb(p) for p in pids), 1),
        "processes": each,
    }


def _upload_ends(env: dict, codes: list[str]) -> dict[str, int]:
    """Wait (in a child, with the stack's settings) until none of the uploads is queued or
    sending, then count their states; a post the web answered for but the database does not
    have counts as "missing"."""
    if not codes:
        return {}
    script = (
        "import json, sys, time\n"
        "from tests.bench.helpers import setup_django\n"
        "setup_django()\n"
        "from posting.models import Post\n"
        "codes = json.loads(sys.stdin.read())\n"
        "posts = Post.objects.filter(code__in=codes)\n"
        f"deadline = time.time() + {DRAIN_SECONDS}\n"
        "while time.time() < deadline and posts.filter(state__in=('queued', 'sending')).exists():\n"
        "    time.sleep(0.5)\n"
        "states = {}\n"
        "for state in posts.values_list('state', flat=True):\n"
        "    states[state] = states.get(state, 0) + 1\n"
        "missing = len(set(codes)) - sum(states.values())\n"
        "if missing:\n"
        "    states['missing'] = missing\n"
        "print(json.dumps(states))\n"
    )
    done = subprocess.run(
        [PYTHON, "-c", script],
        cwd=ROOT,
        env=env,
        input=json.dumps(codes),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _tracebacks(logs: Path) -> list[str]:
    """The first line after each traceback in the servers' logs (an exception no request saw,
    such as one in a task): reported beside the errors."""
    found = []
    for log in sorted(logs.glob("*.log")):
        if log.name == "setup.log":
            continue
        lines = log.read_text(errors="replace").splitlines()
        for number, line in enumerate(lines):
            if line.startswith("Traceback"):
                last = next(
                    (lines[n] for n in range(number + 1, len(lines)) if not lines[n][:1].isspace()),
                    "?",
                )
                found.append(f"{log.name}: {last[:300]}")
    return found


def _figures(users, uploaders, upload_mb, think, recorder, outcome, memory, ends, crashes) -> dict:
    from tests.bench.load_users import LOGIN_KIND, figures

    timed = {k: v for k, v in recorder.timings.items() if k != LOGIN_KIND}
    window = outcome["window_seconds"]
    requests = sum(len(v) for v in timed.values())
    latencies = [ms for kind, values in timed.items() if kind != "upload" for ms in values]
    overall = figures(latencies)
    kinds = {
        kind: {**figures(values), "errors": recorder.errors.get(kind, 0)}
        for kind, values in sorted(recorder.timings.items())
    }
    return {
        "users": users,
        "uploaders": uploaders,
        "upload_mb": upload_mb,
        "think_seconds": think,
        "seconds": round(window, 1),
        "requests": requests,
        "errors": sum(recorder.errors.values()),
        "error_samples": recorder.samples,
        "p50_ms": overall.get("p50_ms"),
        "p99_ms": overall.get("p99_ms"),
        "rps": round(requests / window, 1) if window else 0.0,
        "kinds": kinds,
        "logged_in": outcome["logged_in"],
        "login_seconds": round(outcome["login_seconds"], 1),
        "uploads": len(outcome["uploads"]),
        "upload_ends": ends,
        "web_rss_mb": memory["web"]["rss_mb"],
        "worker_rss_mb": {name: memory[name]["rss_mb"] for name in CLUSTERS},
        "web_pss_mb": memory["web"]["pss_mb"],
        "worker_pss_mb": {name: memory[name]["pss_mb"] for name in CLUSTERS},
        "processes": {name: figures_["processes"] for name, figures_ in memory.items()},
        "server_tracebacks": crashes[:20],
        "database": "postgresql",
        "settings": (
            "DJANGO_ENV=production, PostgreSQL, DATABASE_CONN_MAX_AGE=60, gunicorn "
            "--config python:taisly_dash.gunicorn_conf (gthread, WEB_WORKERS × WEB_THREADS: "
            f"{os.environ.get('WEB_WORKERS', '2')} × {os.environ.get('WEB_THREADS', '8')}), "
            "qclusters default and uploads with their default workers, the sandbox over HTTP"
        ),
    }


# --- the command --------------------------------------------------------------------------------


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="simulated people (default 50)")
    parser.add_argument("--seconds", type=float, default=60, help="the window (default 60)")
    parser.add_argument("--uploaders", type=int, default=5, help="of the people (default 5)")
    parser.add_argument("--upload-mb", type=float, default=50, help="each video (default 50)")
    parser.add_argument("--think", type=float, default=1.0, help="s between pages (default 1)")
    return parser.parse_args(argv)


def database_url() -> str:
    url = os.environ.get("BENCH_LOAD_DATABASE_URL", DEFAULT_DB)
    if not urlsplit(url).scheme.startswith("postgres"):
        raise SystemExit("BENCH_LOAD_DATABASE_URL must name a PostgreSQL database.")
    return url


def main(argv: list[str] | None = None) -> int:
    options = arguments(argv)
    load_start = load_average()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as workdir:
        try:
            results = run(
                users=options.users,
                seconds=options.seconds,
                uploaders=options.uploaders,
                upload_mb=options.upload_mb,
                think=options.think,
                database_url=database_url(),
                workdir=Path(workdir),
            )
        except BaseException:
            kept = RESULTS_DIR / "load-logs"
            shutil.copytree(Path(workdir) / "logs", kept, dirs_exist_ok=True)
            print(f"The servers' logs are kept in {kept.relative_to(ROOT)}.", file=sys.stderr)
            raise
    results["passed"] = results["errors"] == 0
    print_results(results)
    path = write_results("load", results, load_start=load_start)
    print(f"  {'ok' if results['passed'] else 'GOAL MISSED'}; written to {path.relative_to(ROOT)}")
    # A missed goal is a verdict (printed, "passed" in the JSON), not a failure to run.
    return 0


def print_results(results: dict) -> None:
    for key in ("users", "seconds", "requests", "errors", "p50_ms", "p99_ms", "rps"):
        print(f"  {key:10} {results[key]}")
    print(
        f"  {'web':10} RSS {results['web_rss_mb']} MiB, PSS {results['web_pss_mb']} MiB "
        "(gunicorn master and workers)"
    )
    for name, mb in results["worker_rss_mb"].items():
        print(
            f"  {'worker':10} RSS {mb} MiB, PSS {results['worker_pss_mb'][name]} MiB "
            f"(qcluster {name}, every process)"
        )
    print(f"  uploads    {results['uploads']}, ended {results['upload_ends']}")
    for kind, figure in results["kinds"].items():
        print(
            f"    {kind:22} {figure['requests']:6} requests  p50 {figure.get('p50_ms')} ms  "
            f"p99 {figure.get('p99_ms')} ms  errors {figure['errors']}"
        )
    for sample in results["error_samples"]:
        print(f"  error: {sample}")
    for line in results["server_tracebacks"]:
        print(f"  traceback in {line}")


if __name__ == "__main__":
    sys.exit(main())
