"""Run in subprocesses against a PostgreSQL database of its own (``PostgresProject`` in
tests/posting/test_quota_processes.py): the steps of the concurrency tests that other processes
must see.

    python -m tests.posting.quota_script race          8 threads reserve at once; prints JSON
    python -m tests.posting.quota_script seed < keys   one workspace per key, due for sync
    python -m tests.posting.quota_script up PID…       waits until these qclusters run
    python -m tests.posting.quota_script drive N S     N scheduler cycles, S seconds apart
    python -m tests.posting.quota_script report        ledger and task results as JSON

DATABASE_URL names the database; TAISLY_BASE_URL the sandbox.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from datetime import timedelta

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taisly_dash.settings")

import django  # noqa: E402

django.setup()

from django.db import close_old_connections, connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.crypto import key_fingerprint  # noqa: E402
from accounts.models import TaislyConnection, Workspace  # noqa: E402
from posting.models import MirrorState, TaislyRequest  # noqa: E402
from posting.taisly import governor as quota  # noqa: E402
from tests.polling import wait_until  # noqa: E402

PREFIX = "cluster test "


def race() -> dict:
    api_key = "taisly_" + os.urandom(32).hex()
    workspace = Workspace.objects.create(name="race", kind=Workspace.Kind.CLIENT)
    conn = TaislyConnection.objects.create(
        workspace=workspace,
        api_key=api_key,
        key_hint="taisly_…race",
        key_fingerprint=key_fingerprint(api_key),
        # Not active: the cluster test's dispatcher must not pick it.
        status=TaislyConnection.Status.DISCONNECTED,
    )
    TaislyRequest.objects.bulk_create(
        TaislyRequest(
            connection=conn,
            fingerprint=conn.key_fingerprint,
            endpoint="GET /post/history",
            status=200,
            started_at=timezone.now() - timedelta(minutes=10),
        )
        for _ in range(40)
    )
    start = threading.Barrier(8)
    granted, refused, errors = [], [], []

    def worker():
        try:
            start.wait(10)
            for _ in range(3):
                try:
                    granted.append(
                        quota.reserve(
                            fingerprint=conn.key_fingerprint,
                            connection=conn,
                            limit=50,
                            endpoint="GET /post/history",
                        )
                    )
                except quota.QuotaRefused:
                    refused.append(1)
        except BaseException as exc:  # noqa: BLE001 (reported)
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    close_old_connections()
    return {
        "vendor": connection.vendor,
        "granted": len(granted),
        "refused": len(refused),
        "errors": errors,
        "rows": TaislyRequest.objects.filter(fingerprint=conn.key_fingerprint).count(),
    }


def seed(keys: list[str]) -> dict:
    now = timezone.now()
    ids = []
    for index, api_key in enumerate(keys):
        workspace = Workspace.objects.create(name=f"{PREFIX}{index}", kind=Workspace.Kind.CLIENT)
        conn = TaislyConnection.objects.create(
            workspace=workspace,
            api_key=api_key,
            key_hint=f"taisly_…{api_key[-4:]}",
            key_fingerprint=key_fingerprint(api_key),
            plan=TaislyConnection.Plan.STARTER,
        )
        # Platforms and rules fresh: each sync is one history request.
        MirrorState.objects.create(
            workspace=workspace, platforms_synced_at=now, reposts_synced_at=now
        )
        ids.append(conn.pk)
    return {"connections": ids}


def up(pids: list[int], timeout: float = 30) -> dict:
    """Wait until the qclusters started as ``pids`` are running: each has saved its status
    (django-q2's Stat, in the cache; its pid is the qcluster process's) as idle or working,
    which it does once its workers, monitor and pusher are spawned, and again every half
    second while it guards them."""
    from django_q.conf import Conf
    from django_q.status import Stat

    running = (str(Conf.IDLE), str(Conf.WORKING))

    def all_running() -> dict | None:
        seen = {stat.pid: str(stat.status) for stat in Stat.get_all()}
        return seen if all(seen.get(pid) in running for pid in pids) else None

    seen = wait_until(all_running, what=f"qclusters {pids} running", timeout=timeout, every=0.2)
    return {"clusters": seen}


def drive(cycles: int, every: float) -> dict:
    """Each cycle: a minute passes for the schedule, and two schedulers (as two clusters would)
    run at once. django-q2's own guard calls its scheduler only every 30 s, too slow for a test."""
    from django_q.models import OrmQ, Schedule
    from django_q.scheduler import scheduler

    from posting.schedules import SYNC_SCHEDULE

    for _ in range(cycles):
        Schedule.objects.filter(name=SYNC_SCHEDULE).update(
            next_run=timezone.now() - timedelta(seconds=1)
        )
        threads = [threading.Thread(target=_scheduler_once, args=(scheduler,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        time.sleep(every)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        busy = MirrorState.objects.filter(
            workspace__name__startswith=PREFIX, sync_claimed_until__gt=timezone.now()
        ).exists()
        if not busy and not OrmQ.objects.exists():
            break
        time.sleep(0.3)
    return {"queued": OrmQ.objects.count()}


def _scheduler_once(scheduler) -> None:
    try:
        scheduler()
    finally:
        connection.close()


def report() -> dict:
    from django_q.models import Task

    rows: dict[int, list] = {}
    for row in TaislyRequest.objects.filter(
        connection__workspace__name__startswith=PREFIX
    ).order_by("started_at"):
        rows.setdefault(row.connection_id, []).append(
            {
                "start": row.started_at.timestamp(),
                "ms": row.duration_ms,
                "endpoint": row.endpoint,
                "status": row.status,
                "kind": row.kind,
                "done": row.done,
            }
        )
    results: dict[str, list] = {}
    for task in Task.objects.filter(func="posting.tasks.sync_connection"):
        results.setdefault(str(task.args[0]), []).append(task.result)
    dispatches = Task.objects.filter(func="posting.tasks.sync_dispatch").count()
    synced = {
        str(state.workspace.taisly_connection.pk): bool(state.history_synced_at)
        for state in MirrorState.objects.filter(workspace__name__startswith=PREFIX).select_related(
            "workspace__taisly_connection"
        )
    }
    return {"rows": rows, "results": results, "dispatches": dispatches, "synced": synced}


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "race":
        out = race()
    elif command == "seed":
        out = seed(json.load(sys.stdin))
    elif command == "up":
        out = up([int(pid) for pid in sys.argv[2:]])
    elif command == "drive":
        out = drive(int(sys.argv[2]), float(sys.argv[3]))
    else:
        out = report()
    print(json.dumps(out))
