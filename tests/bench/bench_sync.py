"""A simulated day: background sync, the governor and alerts against the sandbox over HTTP.

    python -m tests.bench.bench_sync     (BENCH_SYNC_WORKSPACES, default 50; BENCH_SYNC_POSTS,
                                          default 2000)

The same functions the schedules call run in this process, against a fresh SQLite database and
a sandbox server of its own, with both clocks moved in steps: time-machine here, the sandbox's
/control/clock there (set to the same moment every step), so a day takes minutes. Every figure
is in simulated time. The clocks step from one event to the next: each post and each click at
its own drawn moment, and each whole minute, when the schedules run (the minute is the
schedules' own period, so no figure is coarser than production's). Nothing in the dashboard
happens between those moments, so no step is skipped that could change a figure.

- Workspaces on STARTER, INFLUENCER and PRO keys (40/30/30 %), each with its owner.
- Posts spread over the first 22 hours (the last two let stuck posts and late syncs finish):
  half made through the dashboard (a QUEUED post forwarded by ``forward.post_forward``, the
  uploads worker's own function), half straight against the sandbox (as Taisly's own app
  would); 5 % tagged ``#fail:<network>``, 1 % ``#stuck:<network>``.
- Every minute: ``tasks.sync_dispatch`` (which runs each due ``sync_connection`` inline: the
  cluster is in sync mode) and ``tasks.alerts_scan``. Team members click "Sync now" at
  ``CLICKS_PER_HOUR`` per workspace (Poisson), as interactive requests.

Prints a table and writes bench-results/sync.json:
- ``alert_p95_s_pro``, ``alert_p95_s_starter``, ``alert_median_s``: from the moment a result
  turns FAILED in the sandbox to its alert (goals: 120 s, 300 s). That moment is the sandbox's
  own: the post's due time as the sandbox's history gives it (its clock, read at the end of the
  day) plus the sandbox's publish delay, which is the rule its status follows;
- ``background_budget_share_max``: the largest share of any key's hourly limit used by
  background requests in one sliding hour, counted as the governor counts it
  (posting/taisly/governor.py: a key's requests started in ``(now - 1 h, now]``, by key
  fingerprint), so the maximum over every 3600 s window, not per clock hour (goal ≤ 0.5);
  ``background_budget_share_idle``, the same over the windows with nothing in flight for that
  workspace (no post made in the window
  or the hour before it), and per plan (``background_budget_share_idle_starter`` and so on);
- ``background_429s`` (goal 0), ``interactive_refusals`` (goal 0: a "Sync now" or a post the
  governor or the sandbox refused), ``alerts_missed`` and ``alerts_duplicated`` (goal 0: every
  FAILED and every stuck result has exactly one alert).

"passed" (goal met) means every goal above holds: alert p95 PRO ≤ 120 s and STARTER ≤ 300 s,
background share ≤ 0.5 of the hour, no background 429, no interactive refusal, no alert missed
or duplicated. A goal whose figure could not be made (no failure of that plan's posts in a small
run) counts as missed: ``goals_missed`` in the JSON says which and why. A missed goal is a
verdict (``"passed": false``), not an error.

Every results file carries the machine's load average at the start and the end of the run; the
figures here are in simulated time, so a busy machine makes the run longer, not the figures
worse.
"""

from __future__ import annotations

import bisect
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a file path: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

NETWORKS = ("TikTok", "Instagram", "YouTube", "X", "Facebook")
PLANS = ("STARTER",) * 4 + ("INFLUENCER",) * 3 + ("PRO",) * 3
DAY = 24 * 3600
HOUR = 3600
POSTING_HOURS = 22
PUBLISH_SECONDS = 30
MINUTE = 60  # the schedules' period (sync_dispatch, alerts_scan)
CLICKS_PER_HOUR = 1.0
SEED = 20261201


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def sliding_hour_shares(
    moments: list[float], posts: list[float], limit: int
) -> tuple[float, float | None]:
    """A key's background share, as the governor counts it: the most background requests in any
    sliding hour (``(t - 3600, t]``, the governor's window) over the key's hourly limit; and the
    same over the idle hours alone, those with no post made in the window or the hour before it
    (None when no hour was idle). ``moments`` and ``posts`` are sorted seconds.

    A window's count only rises when a request enters it, so its largest value is at a window
    ending on a request; an idle stretch may also begin with requests still in its window, so
    the windows ending where each idle stretch begins (two hours after a post) count too."""

    def count(end: float) -> int:
        return bisect.bisect_right(moments, end) - bisect.bisect_right(moments, end - HOUR)

    def idle(end: float) -> bool:
        return bisect.bisect_right(posts, end) == bisect.bisect_right(posts, end - 2 * HOUR)

    busiest = max((count(t) for t in moments), default=0)
    idle_ends = [t for t in moments if idle(t)] + [
        p + 2 * HOUR for p in posts if idle(p + 2 * HOUR)
    ]
    if not posts:
        idle_ends.append(0.0)  # idle all day
    quiet = max((count(t) for t in idle_ends), default=None)
    return busiest / limit, (None if quiet is None else quiet / limit)


def main() -> int:
    from tests.bench.helpers import load_average

    load_start = load_average()
    workdir = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    os.environ["DJANGO_ENV"] = "test"  # django-q2 in sync mode: a task runs where it is queued
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'dash.sqlite3'}"
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    os.environ["FILE_UPLOAD_TEMP_DIR"] = str(workdir / "media" / "tmp")
    (workdir / "media" / "tmp").mkdir(parents=True)

    from tests.bench.helpers import setup_django, write_results

    setup_django()
    import logging

    import time_machine
    from django_q.conf import Conf

    # Two costs of wall time that no figure depends on: django-q's per-task INFO lines, and its
    # result pruning (with save_limit it reads every kept Success row, pickles and all, after
    # each task). Task rows are still written; only the pruning is off.
    logging.disable(logging.INFO)
    Conf.SAVE_LIMIT = 0
    from django.conf import settings
    from django.core.management import call_command

    from tests.sandbox_server import SandboxServer
    from tests.videos import make_video

    call_command("migrate", database="default", verbosity=0)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    workspaces_n = int(os.environ.get("BENCH_SYNC_WORKSPACES", 50))
    posts_n = int(os.environ.get("BENCH_SYNC_POSTS", 2000))
    rng = random.Random(SEED)
    video = make_video(workdir / "bench.mp4")
    server = SandboxServer(workdir / "sandbox", publish_seconds=PUBLISH_SECONDS).start()
    settings.TAISLY_BASE_URL = server.base_url
    wall_started = time.monotonic()
    try:
        start = datetime.now(UTC).replace(microsecond=0)
        with time_machine.travel(start, tick=False) as traveller:
            result = _run(server, traveller, start, rng, video, workspaces_n, posts_n, settings)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)  # its database, media and sandbox
    result["wall_seconds"] = round(time.monotonic() - wall_started, 1)
    result["passed"], result["goals_missed"] = verdict(result)
    path = write_results("sync", result, load_start=load_start)
    _print(result, path)
    return 0


def _run(server, traveller, start, rng, video, workspaces_n, posts_n, settings) -> dict:
    import requests
    from django.core import mail
    from django.core.files import File
    from django.db.models import Count
    from time_machine import escape_hatch

    from accounts.models import Membership, TaislyConnection, User, Workspace
    from posting import tasks
    from posting.connection import keys
    from posting.mirror.sync import history_sync
    from posting.models import Alert, Platform, Post, TaislyRequest
    from posting.sending import forward
    from posting.taisly.gateway import TaislyActionError
    from posting.taisly.governor import QuotaRefused

    def sandbox_to(now: datetime) -> None:
        # The sandbox's clock is real time plus an offset: set it to this step's moment.
        offset = now.timestamp() - escape_hatch.time.time()
        server._control("POST", "clock", {"offset": offset})

    # --- The workspaces -------------------------------------------------------------------------
    sandbox_to(start)
    spaces = []
    for i in range(workspaces_n):
        plan = PLANS[i % len(PLANS)]
        account = server.create_account(plan=plan)
        owner = User.objects.create_user(
            email=f"owner{i}@bench.test", password=None, display_name=f"Owner {i}"
        )
        workspace = Workspace.objects.create(name=f"Client {i}", kind=Workspace.Kind.CLIENT)
        Membership.objects.create(workspace=workspace, user=owner, role=Membership.Role.OWNER)
        keys.connection_connect(
            workspace=workspace, api_key=account["api_key"], plan=plan, actor=owner
        )
        ids = {p["platform"]: p["_id"] for p in account["platforms"]}
        spaces.append(
            {
                "workspace": workspace,
                "owner": owner,
                "plan": plan,
                "key": account["api_key"],
                "ids": ids,
            }
        )

    # --- The day's plan -------------------------------------------------------------------------
    plan_posts = []
    for n in range(posts_n):
        at = rng.uniform(60, POSTING_HOURS * 3600)
        space = rng.randrange(workspaces_n)
        networks = rng.sample(NETWORKS, rng.randint(1, 3))
        roll = rng.random()
        fate, target = "ok", None
        if roll < 0.05:
            fate, target = "failed", rng.choice(networks)
        elif roll < 0.06:
            fate, target = "stuck", rng.choice(networks)
        plan_posts.append(
            {
                "n": n,
                "at": at,
                "space": space,
                "networks": networks,
                "fate": fate,
                "target": target,
                "via": "dashboard" if n % 2 == 0 else "sandbox",
            }
        )
    plan_posts.sort(key=lambda p: p["at"])
    clicks = []
    for space in range(workspaces_n):
        t = rng.expovariate(CLICKS_PER_HOUR / 3600)
        while t < DAY:
            clicks.append((t, space))
            t += rng.expovariate(CLICKS_PER_HOUR / 3600)
    clicks.sort()

    session = requests.Session()
    platforms = {(p.workspace_id, p.network): p for p in Platform.objects.all()}
    made = []  # (plan item, taisly id, due moment)
    refusals = 0
    clicks_done = 0
    post_moments: dict[int, list[float]] = defaultdict(list)  # workspace: seconds from start
    next_post = next_click = 0
    end = DAY + 3600
    # Every moment something happens: each post, each click, each whole minute (the schedules).
    moments = sorted(
        {float(m) for m in range(0, end + 1, MINUTE)}
        | {p["at"] for p in plan_posts}
        | {t for t, _space in clicks if t <= end}
    )
    with open(video, "rb") as fh:
        stored = File(fh, name="bench.mp4")
        from django.core.files.storage import default_storage

        video_name = default_storage.save("posts/bench/bench.mp4", stored)

    for elapsed in moments:
        now = start + timedelta(seconds=elapsed)
        traveller.move_to(now)
        sandbox_to(now)
        while next_post < len(plan_posts) and plan_posts[next_post]["at"] <= elapsed:
            item = plan_posts[next_post]
            next_post += 1
            space = spaces[item["space"]]
            tag = {"failed": " #fail:", "stuck": " #stuck:"}.get(item["fate"], "")
            tag += item["target"] or ""
            description = f"Bench post {item['n']}{tag}"
            post_moments[space["workspace"].pk].append(elapsed)
            if item["via"] == "dashboard":
                post = Post.objects.create(
                    workspace=space["workspace"],
                    author=space["owner"],
                    description=description,
                    state=Post.State.QUEUED,
                    video=video_name,
                    video_name="bench.mp4",
                    video_size=1,
                )
                post.target_platforms.set(
                    [platforms[(space["workspace"].pk, n)] for n in item["networks"]]
                )
                outcome = forward.post_forward(post_id=post.pk)
                if outcome != "sent":
                    refusals += 1
                    continue
                post.refresh_from_db()
                made.append((item, post.taisly_id, now))
            else:
                with open(video, "rb") as fh:
                    response = session.post(
                        f"{server.base_url}/post",
                        headers={"Authorization": f"Bearer {space['key']}"},
                        data={
                            "platforms": json.dumps([space["ids"][n] for n in item["networks"]]),
                            "description": description,
                        },
                        files={"video": ("bench.mp4", fh, "video/mp4")},
                        timeout=30,
                    )
                if response.status_code != 200:
                    refusals += 1  # the sandbox's own rate limit refused the direct post
                    continue
                body = response.json()
                history_id = (
                    body.get("historyId") or body.get("id") or body.get("data", {}).get("id")
                )
                made.append((item, history_id, now))
        while next_click < len(clicks) and clicks[next_click][0] <= elapsed:
            space = spaces[clicks[next_click][1]]
            next_click += 1
            clicks_done += 1
            try:
                history_sync(workspace=space["workspace"], actor=space["owner"])
            except TaislyActionError as exc:
                if isinstance(exc.cause, QuotaRefused) or exc.cause is None:
                    refusals += 1
        if elapsed % MINUTE == 0:
            sandbox_to(now)  # the uploads above took real time, which the sandbox's clock counts
            tasks.sync_dispatch()
            tasks.alerts_scan()

    # --- The sandbox's own account of the day ---------------------------------------------------
    # Read after the day, an hour further on (so no rate window is full), with plain requests:
    # not through the dashboard, not in its ledger. The due time is the sandbox clock's.
    sandbox_to(start + timedelta(seconds=end + 2 * 3600))
    sandbox_due: dict[str, datetime] = {}
    sandbox_status: dict[tuple[str, str], str] = {}
    for space in spaces:
        response = session.get(
            f"{server.base_url}/post/history",
            headers={"Authorization": f"Bearer {space['key']}"},
            params={
                "startTime": int(start.timestamp() * 1000) - 1000,
                "endTime": int((start.timestamp() + end + 3600) * 1000),
            },
            timeout=60,
        )
        response.raise_for_status()
        for item in response.json()["data"]:
            sandbox_due[item["id"]] = datetime.fromisoformat(item["date"].replace("Z", "+00:00"))
            for result in item["result"]:
                sandbox_status[(item["id"], result["platform"])] = result["status"]

    # --- Figures ----------------------------------------------------------------------------------
    plan_of = {s["workspace"].pk: s["plan"] for s in spaces}
    limit_of = {
        c.workspace_id: (c.key_fingerprint, c.hourly_limit)
        for c in TaislyConnection.objects.defer("api_key")
    }
    posts = {(p.workspace_id, p.taisly_id): p for p in Post.objects.exclude(taisly_id=None)}
    alerts = defaultdict(list)
    for alert in Alert.objects.select_related("platform"):
        if alert.post_id and alert.platform_id:
            alerts[(alert.post_id, alert.platform.network, alert.kind)].append(alert)
    latencies: dict[str, list[float]] = defaultdict(list)
    missed = 0
    expected = 0
    for item, taisly_id, _made_at in made:
        if item["fate"] == "ok":
            continue
        expected += 1
        space = spaces[item["space"]]
        post = posts.get((space["workspace"].pk, taisly_id))
        found = alerts.get((post.pk, item["target"], item["fate"])) if post else None
        if not found:
            missed += 1
            continue
        if item["fate"] == "failed":
            # The sandbox's rule: FAILED from its due time + SANDBOX_PUBLISH_SECONDS on.
            if sandbox_status.get((taisly_id, item["target"])) != "FAILED":
                raise RuntimeError(f"post {taisly_id} did not fail in the sandbox")
            failed_at = sandbox_due[taisly_id] + timedelta(seconds=PUBLISH_SECONDS)
            latencies[plan_of[space["workspace"].pk]].append(
                (found[0].created_at - failed_at).total_seconds()
            )
    duplicated = sum(
        row["n"] - 1
        for row in Alert.objects.filter(post__isnull=False)
        .values("post_id", "platform_id", "kind")
        .annotate(n=Count("id"))
        if row["n"] > 1
    )
    wanted = set()
    for item, taisly_id, _due in made:
        post = posts.get((spaces[item["space"]]["workspace"].pk, taisly_id))
        if post is not None and item["fate"] != "ok":
            wanted.add((post.pk, item["target"], item["fate"]))
    unexpected = sum(1 for key in alerts if key[2] in ("failed", "stuck") and key not in wanted)

    # The background share on a sliding hour, as the governor enforces it
    # (posting/taisly/governor.py: the key's requests started in (now - 1 h, now], counted by
    # key fingerprint).
    background_at: dict[str, list[float]] = defaultdict(list)
    for row in TaislyRequest.objects.filter(kind=TaislyRequest.Kind.BACKGROUND).values(
        "fingerprint", "started_at"
    ):
        background_at[row["fingerprint"]].append((row["started_at"] - start).total_seconds())
    key_limit: dict[str, int] = {}
    for fingerprint, limit in limit_of.values():
        key_limit[fingerprint] = min(limit, key_limit.get(fingerprint, limit))
    shares: dict[str, float] = {}
    idle_shares: dict[str, float] = {}
    for space in spaces:
        ws = space["workspace"].pk
        fingerprint, _limit = limit_of[ws]
        share, idle = sliding_hour_shares(
            sorted(background_at.get(fingerprint, [])),
            sorted(post_moments[ws]),
            key_limit[fingerprint],
        )
        shares[fingerprint] = share
        idle_shares[fingerprint] = idle
    plan_of_key = {limit_of[s["workspace"].pk][0]: s["plan"] for s in spaces}
    idle_by_plan: dict[str, list[float]] = defaultdict(list)
    for fingerprint, idle in idle_shares.items():
        if idle is not None:
            idle_by_plan[plan_of_key[fingerprint]].append(idle)
    idle_values = [v for v in idle_shares.values() if v is not None]
    background_429s = TaislyRequest.objects.filter(
        kind=TaislyRequest.Kind.BACKGROUND, status=429
    ).count()
    all_latencies = [v for values in latencies.values() for v in values]
    return {
        "workspaces": workspaces_n,
        "posts_planned": posts_n,
        "posts_made": len(made),
        "clicks": clicks_done,
        "schedule_seconds": MINUTE,
        "sandbox_posts_read": len(sandbox_due),
        "publish_seconds": PUBLISH_SECONDS,
        "alerts_expected": expected,
        "alert_p95_s_pro": percentile(latencies["PRO"], 0.95),
        "alert_p95_s_influencer": percentile(latencies["INFLUENCER"], 0.95),
        "alert_p95_s_starter": percentile(latencies["STARTER"], 0.95),
        "alert_median_s": statistics.median(all_latencies) if all_latencies else None,
        "background_budget_share_max": round(max(shares.values()), 3) if shares else None,
        "background_budget_share_idle": round(max(idle_values), 3) if idle_values else None,
        "background_share_window": "sliding hour",
        # Idle polling is a fixed share of each plan's hour (SYNC_IDLE_SHARE), so per plan:
        **{
            f"background_budget_share_idle_{plan.lower()}": (
                round(max(idle_by_plan[plan]), 3) if idle_by_plan[plan] else None
            )
            for plan in ("STARTER", "INFLUENCER", "PRO")
        },
        "background_429s": background_429s,
        "interactive_refusals": refusals,
        "alerts_missed": missed,
        "alerts_duplicated": duplicated,
        "alerts_unexpected": unexpected,
        "emails_sent": len(getattr(mail, "outbox", [])),  # no outbox until a first email
        "taisly_requests": TaislyRequest.objects.count(),
    }


GOALS = {
    "alert_p95_s_pro": ("≤", 120),
    "alert_p95_s_starter": ("≤", 300),
    "background_budget_share_max": ("≤", 0.5),
    "background_429s": ("=", 0),
    "interactive_refusals": ("=", 0),
    "alerts_missed": ("=", 0),
    "alerts_duplicated": ("=", 0),
}


def verdict(result: dict) -> tuple[bool, list[str]]:
    """Whether every goal holds, and which do not (a missing figure is a missed goal)."""
    missed = []
    for key, (op, bound) in GOALS.items():
        value = result.get(key)
        if value is None:
            missed.append(f"{key}: no figure")
        elif not (value <= bound if op == "≤" else value == bound):
            missed.append(f"{key} = {value} (goal {op} {bound})")
    return not missed, missed


def _print(result: dict, path: Path) -> None:
    width = max(len(k) for k in result)
    print(f"{'figure':<{width}}  {'value':>10}  goal")
    for key, value in result.items():
        if key == "goals_missed":
            continue  # in the verdict line
        goal = GOALS.get(key)
        mark = ""
        if goal and value is not None:
            op, bound = goal
            ok = value <= bound if op == "≤" else value == bound
            mark = f"{op} {bound} {'ok' if ok else 'MISSED'}"
        if value is None:
            shown = "—"
        elif isinstance(value, float):
            shown = f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"  # shares: 0.28, not 0.3
        else:
            shown = value
        print(f"{key:<{width}}  {shown!s:>10}  {mark}")
    verdict_line = "ok" if result["passed"] else "GOAL MISSED: " + "; ".join(result["goals_missed"])
    print(f"{verdict_line}; written to {path}")


if __name__ == "__main__":
    sys.exit(main())
