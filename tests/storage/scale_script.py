"""Run in subprocesses against the scale-out test's own PostgreSQL database
(tests/storage/test_scale_out.py): the steps that other processes must see.

    python -m tests.storage.scale_script seed < account   a workspace, its key, a logged-in owner
    python -m tests.storage.scale_script up PID…          waits until these qclusters run
    python -m tests.storage.scale_script drive            one scheduler cycle, as two clusters race
    python -m tests.storage.scale_script post             the post, its alerts, ledger, tasks
    python -m tests.storage.scale_script cleanup          the daily clean-up, run by a cluster

DATABASE_URL names the database; TAISLY_BASE_URL the sandbox. Each prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import timedelta

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taisly_dash.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.crypto import key_fingerprint  # noqa: E402
from accounts.models import Membership, TaislyConnection, User, Workspace  # noqa: E402
from posting.models import Alert, MirrorState, Platform, Post, TaislyRequest  # noqa: E402
from tests.polling import wait_until  # noqa: E402
from tests.posting.quota_script import up  # noqa: E402


def seed(account: dict) -> dict:
    """A workspace holding the sandbox account's key, its TikTok account mirrored and its
    history just read (so nothing is due until a post is sent), and its owner's session."""
    now = timezone.now()
    owner = User.objects.create_user(
        email="owner@scale.test", password="scale-out-pass-123", display_name="Owner"
    )
    workspace = Workspace.objects.create(name="Scale out", kind=Workspace.Kind.CLIENT)
    Membership.objects.create(workspace=workspace, user=owner, role=Membership.Role.OWNER)
    api_key = account["api_key"]
    TaislyConnection.objects.create(
        workspace=workspace,
        api_key=api_key,
        key_hint=f"taisly_…{api_key[-4:]}",
        key_fingerprint=key_fingerprint(api_key),
        plan=TaislyConnection.Plan.STARTER,
    )
    tiktok = next(p for p in account["platforms"] if p["platform"] == "TikTok")
    Platform.objects.create(
        workspace=workspace, taisly_id=tiktok["_id"], network="TikTok", name=tiktok["name"] or ""
    )
    MirrorState.objects.create(
        workspace=workspace, history_synced_at=now, platforms_synced_at=now, reposts_synced_at=now
    )
    client = Client()
    client.force_login(owner)
    return {
        "session": client.cookies["sessionid"].value,
        "workspace": str(workspace.code),
        "platform": tiktok["_id"],
    }


def drive() -> dict:
    """The sync schedule comes due, and two schedulers (as the two default clusters' would) run
    at once: one of them claims it. django-q2's own guard looks only every 30 s."""
    from django_q.models import Schedule
    from django_q.scheduler import scheduler

    from posting.schedules import SYNC_SCHEDULE

    Schedule.objects.filter(name=SYNC_SCHEDULE).update(
        next_run=timezone.now() - timedelta(seconds=1)
    )
    threads = [threading.Thread(target=_scheduler_once, args=(scheduler,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    return {}


def _scheduler_once(scheduler) -> None:
    try:
        scheduler()
    finally:
        connection.close()


def post() -> dict:
    from django_q.models import Task

    item = Post.objects.filter(workspace__name="Scale out").first()
    if item is None:
        return {"post": None}
    history = TaislyRequest.objects.filter(
        connection__workspace=item.workspace, endpoint="GET /post/history"
    )
    return {
        "post": {
            "state": item.state,
            "reason": item.state_reason,
            "video": item.video.name,
            "thumbnail": item.thumbnail.name,
            "deleted": item.video_deleted_at is not None,
            "sent_at": item.sent_at.timestamp() if item.sent_at else None,
            "results": list(item.results.values_list("status", flat=True)),
        },
        "alerts": list(Alert.objects.filter(post=item).values_list("kind", flat=True)),
        "emailed": Alert.objects.filter(post=item, emailed_at__isnull=False).count(),
        "history_requests": [r.started_at.timestamp() for r in history.order_by("started_at")],
        "syncs": list(
            Task.objects.filter(func="posting.tasks.sync_connection").values_list(
                "result", flat=True
            )
        ),
        # The results watch's own reads ("N syncs while results were due").
        "watched": list(
            Task.objects.filter(func="posting.tasks.results_watch").values_list("result", flat=True)
        ),
        "forwards": list(
            Task.objects.filter(func="posting.tasks.forward_post").values_list("result", flat=True)
        ),
    }


def cleanup() -> dict:
    """The daily clean-up, queued for the default clusters as its schedule would, and its result
    once one of them has run it."""
    from django_q.models import Task
    from django_q.tasks import async_task

    task_id = async_task("posting.tasks.cleanup_videos", task_name="scale-out cleanup")
    task = wait_until(
        lambda: Task.objects.filter(id=task_id).first(), what="the clean-up task", timeout=30
    )
    return {"success": task.success, "result": task.result}


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "seed":
        out = seed(json.load(sys.stdin))
    elif command == "up":
        out = up([int(pid) for pid in sys.argv[2:]])
    elif command == "drive":
        out = drive()
    elif command == "cleanup":
        out = cleanup()
    else:
        out = post()
    print(json.dumps(out))
