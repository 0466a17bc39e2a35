"""Readiness: what `/readyz` and the containers' health checks ask.

A process is ready when the database answers, every migration is applied, the cache table exists
and every task cluster (the default one and each of ``Q_CLUSTER["ALT_CLUSTERS"]``) was seen alive
recently. django-q2 keeps each running cluster's status in the cache (saved every half second,
gone three seconds after its cluster stops), but that status does not say which cluster it is.
So each worker container's health check (``python -m taisly_dash.health cluster``) finds its own
cluster's status (same host, and where it can see it, the same ``Q_CLUSTER_NAME``) and, when it is
there and running, records a heartbeat under the cluster's name; `/readyz` reads those.

    python -m taisly_dash.health web       # exit 0 when this container's gunicorn answers /healthz
    python -m taisly_dash.health cluster   # exit 0 when this container's cluster runs; heartbeat
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError, connection
from django.utils import timezone

#: A cluster whose heartbeat is older than this is not counted as running. The compose health
#: checks beat every 15 s, so this allows a few missed ones.
HEARTBEAT_MAX_AGE = timedelta(seconds=90)
_HEARTBEAT_KEY = "taisly_dash:health:cluster:{name}"

# Once every migration was seen applied, this process's code has no newer one (a deploy with new
# migrations starts new processes), so the check needs no more loading of migration files.
_migrations_seen_applied = False


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str = ""


def cluster_names() -> list[str]:
    """The clusters this deployment runs: the default one and each alternative one."""
    conf = settings.Q_CLUSTER
    return [conf.get("name", "default"), *conf.get("ALT_CLUSTERS", {})]


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return Check(False, f"the database does not answer ({type(exc).__name__})")
    return Check(True)


def check_migrations() -> Check:
    global _migrations_seen_applied
    if _migrations_seen_applied:
        return Check(True)
    from django.db.migrations.loader import MigrationLoader

    try:
        loader = MigrationLoader(connection, ignore_no_migrations=True)
    except DatabaseError as exc:
        return Check(False, f"cannot read the applied migrations ({type(exc).__name__})")
    # Every migration, not only the newest of each app: one skipped in the middle counts too.
    missing = sorted(set(loader.graph.nodes) - set(loader.applied_migrations))
    if missing:
        names = [f"{app}.{name}" for app, name in missing]
        return Check(False, f"{len(names)} not applied: {', '.join(names[:5])}")
    _migrations_seen_applied = True
    return Check(True)


def check_cache_table() -> Check:
    tables = [
        cache["LOCATION"]
        for cache in settings.CACHES.values()
        if cache["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    ]
    try:
        existing = set(connection.introspection.table_names())
    except DatabaseError as exc:
        return Check(False, f"cannot list the tables ({type(exc).__name__})")
    missing = [table for table in tables if table not in existing]
    if missing:
        return Check(False, f"missing: {', '.join(missing)} (manage.py createcachetable)")
    return Check(True)


def check_cluster(name: str, *, now: datetime | None = None) -> Check:
    """Whether a health check saw cluster ``name`` running within HEARTBEAT_MAX_AGE."""
    now = now or timezone.now()
    try:
        beat = caches["default"].get(_HEARTBEAT_KEY.format(name=name))
    except DatabaseError as exc:
        return Check(False, f"cannot read the heartbeat ({type(exc).__name__})")
    if beat is None:
        return Check(False, "no heartbeat")
    age = now - beat
    if age > HEARTBEAT_MAX_AGE:
        return Check(False, f"last heartbeat {int(age.total_seconds())} s ago")
    return Check(True, f"last heartbeat {int(age.total_seconds())} s ago")


def readiness() -> dict[str, Check]:
    """Every check by name; the clusters' as ``cluster:<name>``. The database first: when it
    does not answer, the others say nothing more and are not asked."""
    database = check_database()
    if not database.ok:
        return {"database": database}
    checks = {
        "database": database,
        "migrations": check_migrations(),
        "cache_table": check_cache_table(),
    }
    for name in cluster_names():
        checks[f"cluster:{name}"] = (
            check_cluster(name)
            if checks["cache_table"].ok
            else Check(False, "its heartbeat is kept in the cache table, which is missing")
        )
    return checks


# --- the containers' health checks ------------------------------------------------------------


def own_cluster_running() -> Check:
    """This machine's (container's) cluster, as django-q2's own status shows it: saved every half
    second while it runs, gone three seconds after it stops."""
    from django_q.conf import Conf
    from django_q.status import Stat

    host = socket.gethostname()
    name = os.environ.get("Q_CLUSTER_NAME") or Conf.PREFIX
    running = {str(Conf.IDLE), str(Conf.WORKING)}
    mine = [
        stat
        for stat in Stat.get_all()
        if stat.host == host and _cluster_name_of(stat.pid) in (name, None)
    ]
    if not mine:
        return Check(False, f"no status of cluster {name} from {host} (not running)")
    if not any(str(stat.status) in running for stat in mine):
        return Check(False, f"cluster {name} is {', '.join(str(s.status) for s in mine)}")
    return Check(True)


def _cluster_name_of(pid: int) -> str | None:
    """The Q_CLUSTER_NAME a local process runs with ("default" without one), or None when its
    environment cannot be read (another machine, another user)."""
    from django_q.conf import Conf

    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            variables = dict(item.split(b"=", 1) for item in fh.read().split(b"\0") if b"=" in item)
    except OSError:
        return None
    return variables.get(b"Q_CLUSTER_NAME", b"").decode() or Conf.PREFIX


def cluster_beat() -> Check:
    """The cluster health check: when this container's cluster runs, record its heartbeat."""
    from django_q.conf import Conf

    check = own_cluster_running()
    if check.ok:
        name = os.environ.get("Q_CLUSTER_NAME") or Conf.PREFIX
        caches["default"].set(
            _HEARTBEAT_KEY.format(name=name),
            timezone.now(),
            int(HEARTBEAT_MAX_AGE.total_seconds()) * 2,
        )
    return check


def web_answers() -> Check:
    """The web health check: this container's gunicorn answers /healthz with 200, asked as the
    proxy in front would ask (an allowed host, over HTTPS as X-Forwarded-Proto says)."""
    import http.client

    host = next(
        (h.lstrip(".") for h in settings.ALLOWED_HOSTS if h.lstrip(".") and "*" not in h),
        "localhost",
    )
    port = int(os.environ.get("PORT", "8000"))
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        client.request("GET", "/healthz", headers={"Host": host, "X-Forwarded-Proto": "https"})
        status = client.getresponse().status
    except OSError as exc:
        return Check(False, f"gunicorn does not answer on port {port} ({exc})")
    finally:
        client.close()
    if status != 200:
        return Check(False, f"/healthz answered {status}")
    return Check(True)


def main(argv: list[str]) -> int:
    import django

    what = argv[1] if len(argv) > 1 else ""
    if what not in ("web", "cluster"):
        print("usage: python -m taisly_dash.health web|cluster", file=sys.stderr)
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taisly_dash.settings")
    django.setup()
    try:
        check = web_answers() if what == "web" else cluster_beat()
    except DatabaseError as exc:
        check = Check(False, f"the database does not answer ({type(exc).__name__})")
    print(f"{what}: {'ok' if check.ok else 'NOT OK'} {check.detail}".rstrip())
    return 0 if check.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
