"""Issue 15, item 1, with real processes: a webhook endpoint that drips its answer one byte at a
time (a real server on 127.0.0.1) delays neither another workspace's webhook nor the default
cluster's work (sync, alerts).

Two real qclusters run on this test's database: the default one (sync and alerts, one worker,
as small as it gets) and the ``webhooks`` lane (two workers). An owner presses "Send a test
event" twice for the dripping endpoint; while its tries drip, another workspace's test event to
a fast receiver is delivered within a try's deadline, and an alerts scan on the default cluster
runs at once. The dripping tries each end at the deadline, never two at once (the endpoint's
share of the lane is one), stop at WEBHOOK_MAX_ATTEMPTS, and leave a logged row each.

Small settings keep it short on CI's two cores: a 3 s deadline, two tries, no retry delay.
Before the fix the tries ran on the default cluster with a per-read timeout the drip never trips:
the other workspace's delivery and the scan waited behind them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django_q.conf import Conf
from django_q.models import Task
from django_q.status import Stat
from django_q.tasks import async_task

from accounts.models import Membership, Workspace
from posting.alerts.webhooks.endpoints import endpoint_create, endpoint_test
from posting.models import WebhookAttempt, WebhookDelivery
from tests.polling import wait_until
from tests.posting.drip_server import *  # noqa: F403
from tests.posting.webhook_receiver import *  # noqa: F403

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 3
#: How late a try may end past its deadline (thread wake-up, a loaded machine).
MARGIN = 1.0


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _env(tmp_path: Path, **extra: str) -> dict:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_ENV"))},
        "DJANGO_SETTINGS_MODULE": "taisly_dash.settings",
        "DJANGO_ENV": "development",
        "DATABASE_URL": _database_url(),
        "SANDBOX_DATABASE_URL": f"sqlite:///{tmp_path / 'unused-sandbox.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "WARNING",
        "Q_WORKERS": "1",
        "Q_WEBHOOK_WORKERS": "2",
        "WEBHOOK_TIMEOUT_SECONDS": str(DEADLINE),
        "WEBHOOK_MAX_ATTEMPTS": "2",
        "WEBHOOK_RETRY_SECONDS": "0",
        "WEBHOOK_ENDPOINT_CONCURRENCY": "1",
        **extra,
    }


def _start(name: str, env: dict, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env={**env, **({"Q_CLUSTER_NAME": name} if name != "default" else {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(clusters: list[subprocess.Popen]) -> None:
    for cluster in clusters:
        if cluster.poll() is None:
            cluster.terminate()  # the guard stops its own workers
    for cluster in clusters:
        with contextlib.suppress(subprocess.TimeoutExpired):
            cluster.wait(8)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(5)


def test_a_dripping_endpoint_delays_neither_another_workspace_nor_the_default_cluster(
    workspace, alice, receiver, drip_server, monkeypatch, tmp_path
):
    drip = drip_server(every=0.5, stop_after=20, phase="headers")
    slow = endpoint_create(workspace=workspace, actor=alice, url=drip.url(), format="json")
    other = Workspace.objects.create(name="Other client", kind=Workspace.Kind.CLIENT)
    Membership.objects.create(workspace=other, user=alice, role=Membership.Role.OWNER)
    fast = endpoint_create(workspace=other, actor=alice, url=receiver.url(), format="json")

    env = _env(tmp_path)
    logs = {name: tmp_path / f"qcluster-{name}.log" for name in ("default", "webhooks")}
    clusters = [_start(name, env, log) for name, log in logs.items()]

    def tails() -> str:
        return "\n".join(
            f"--- {n}\n{p.read_text(errors='replace')[-2000:]}" for n, p in logs.items()
        )

    try:
        pids = {c.pid for c in clusters}
        running = (str(Conf.IDLE), str(Conf.WORKING))

        def both_running():
            assert all(c.poll() is None for c in clusters), tails()
            seen = {stat.pid: str(stat.status) for stat in Stat.get_all()}
            return all(seen.get(pid) in running for pid in pids)

        wait_until(both_running, what="both qclusters running", timeout=60, every=0.2)
        # From here on, tasks go to the clusters (the suite runs them inline otherwise).
        monkeypatch.setattr(Conf, "SYNC", False)

        # The owner presses "Send a test event" twice for the dripping endpoint.
        endpoint_test(endpoint=slow, actor=alice)
        endpoint_test(endpoint=slow, actor=alice)
        wait_until(lambda: drip.open_now(), what="a try dripping", timeout=20)

        # Meanwhile another workspace's test event, and an alerts scan on the default cluster.
        pressed = time.monotonic()
        fast_delivery = endpoint_test(endpoint=fast, actor=alice)
        scan = async_task("posting.tasks.alerts_scan", task_name="scan while dripping")

        def fast_delivered():
            return WebhookDelivery.objects.filter(pk=fast_delivery.pk, state="delivered").exists()

        wait_until(fast_delivered, what="the other workspace's delivery", timeout=15)
        fast_latency = time.monotonic() - pressed
        dripping_still = WebhookDelivery.objects.filter(endpoint=slow, state="pending").exists()
        wait_until(
            lambda: Task.objects.filter(id=scan, success=True).exists(),
            what="the alerts scan on the default cluster",
            timeout=15,
        )
        scan_latency = time.monotonic() - pressed
        print(f"other workspace delivered after {fast_latency:.2f} s, scan {scan_latency:.2f} s")

        assert dripping_still, "the dripping tries were over before the other delivery"
        assert fast_latency < DEADLINE, f"the other workspace waited {fast_latency:.1f} s"
        assert scan_latency < DEADLINE, f"the default cluster's scan waited {scan_latency:.1f} s"

        # The dripping endpoint's tries end at the deadline and stop at the maximum.
        def all_failed():
            states = set(WebhookDelivery.objects.filter(endpoint=slow).values_list("state"))
            return states == {("failed",)}

        wait_until(all_failed, what="the dripping deliveries to fail", timeout=2 * 2 * 8 + 10)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{tails()}") from None
    finally:
        _stop(clusters)

    slow_deliveries = list(WebhookDelivery.objects.filter(endpoint=slow))
    assert len(slow_deliveries) == 2
    for delivery in slow_deliveries:
        assert delivery.attempts == 2 and delivery.claimed_until is None
        tries = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))
        assert [(t.number, t.status, t.ok) for t in tries] == [(1, None, False), (2, None, False)]
        assert all(t.response_head == f"no answer within {DEADLINE} s" for t in tries)
        assert all(t.duration_ms < (DEADLINE + MARGIN) * 1000 for t in tries), tries
    slow.refresh_from_db()
    assert slow.failing_since is not None

    # Four connections, each shut by the client at the deadline, never two at once.
    conns = sorted(drip.connections, key=lambda c: c.opened)
    assert len(conns) == 4, conns
    assert all(c.closed_by == "client" for c in conns), conns
    assert all(c.closed - c.opened < DEADLINE + MARGIN for c in conns), conns
    for earlier, later in zip(conns, conns[1:], strict=False):
        assert later.opened >= earlier.closed - 0.05, conns

    (fast_try,) = WebhookAttempt.objects.filter(delivery__endpoint=fast)
    assert fast_try.ok and fast_try.status == 200
    # Every try ran in the webhook lane.
    sends = Task.objects.filter(func="posting.tasks.webhook_send")
    assert sends.exists()
    assert set(sends.values_list("cluster", flat=True)) == {"webhooks"}


def test_many_slow_endpoints_of_one_workspace_do_not_hold_the_lane(
    workspace, alice, receiver, drip_server, monkeypatch, tmp_path
):
    """Issue 15 review: one workspace adding endpoints (each with its own share) could hold
    every worker of the lane. Three never-answering endpoints, a test event each: the workspace
    has one try in flight at a time (WEBHOOK_WORKSPACE_CONCURRENCY), so another workspace's
    delivery goes out at once; the slow ones are deferred, not dropped, one after another.
    Before the fix two of them held both workers and the other workspace waited a deadline."""
    drip = drip_server(every=0.5, stop_after=20, phase="headers")
    slow = [
        endpoint_create(workspace=workspace, actor=alice, url=drip.url(f"/{n}"), format="json")
        for n in range(3)
    ]
    other = Workspace.objects.create(name="Other client", kind=Workspace.Kind.CLIENT)
    Membership.objects.create(workspace=other, user=alice, role=Membership.Role.OWNER)
    fast = endpoint_create(workspace=other, actor=alice, url=receiver.url(), format="json")
    env = _env(tmp_path, WEBHOOK_MAX_ATTEMPTS="1", WEBHOOK_WORKSPACE_CONCURRENCY="1")
    log = tmp_path / "qcluster-webhooks.log"
    cluster = _start("webhooks", env, log)
    try:

        def running():
            assert cluster.poll() is None, log.read_text(errors="replace")
            seen = {stat.pid: str(stat.status) for stat in Stat.get_all()}
            return seen.get(cluster.pid) in (str(Conf.IDLE), str(Conf.WORKING))

        wait_until(running, what="the webhooks qcluster running", timeout=60, every=0.2)
        monkeypatch.setattr(Conf, "SYNC", False)
        for endpoint in slow:
            endpoint_test(endpoint=endpoint, actor=alice)
        wait_until(lambda: drip.open_now(), what="a try dripping", timeout=20)
        # The lane has looked at two of them at least: claimed (before the fix, both workers
        # held by this workspace) or deferred.
        seen = WebhookDelivery.objects.filter(endpoint__in=slow, next_attempt_at__isnull=False)
        wait_until(lambda: seen.count() >= 2, what="the slow tries taken up", timeout=10)

        pressed = time.monotonic()
        delivery = endpoint_test(endpoint=fast, actor=alice)
        wait_until(
            lambda: WebhookDelivery.objects.filter(pk=delivery.pk, state="delivered").exists(),
            what="the other workspace's delivery",
            timeout=3 * DEADLINE + 10,
        )
        latency = time.monotonic() - pressed
        print(f"other workspace delivered after {latency:.2f} s")
        assert latency < DEADLINE / 2, f"the other workspace waited {latency:.1f} s"

        # Deferred, never dropped: each slow endpoint's try is made, one after another.
        wait_until(
            lambda: WebhookDelivery.objects.filter(endpoint__in=slow, state="failed").count() == 3,
            what="the slow deliveries tried",
            timeout=3 * (DEADLINE + 15) + 10,
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{log.read_text(errors='replace')[-2000:]}") from None
    finally:
        _stop([cluster])
    conns = sorted(drip.connections, key=lambda c: c.opened)
    assert len(conns) == 3, conns
    for earlier, later in zip(conns, conns[1:], strict=False):
        assert later.opened >= earlier.closed - 0.05, conns
