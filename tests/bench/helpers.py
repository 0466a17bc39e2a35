"""Shared by the bench scripts: Django setup, production settings, the bench's own PostgreSQL
database, memory figures, the machine's load, results files.

A bench measures in a child process it starts itself, so the figures are not polluted by the
parent's imports, the sandbox client or an earlier measurement. Every results file carries the
machine's load average at the start and the end of its run (``load_average_start`` and
``load_average_end``: 1, 5 and 15 minutes) and its CPU count, so a run on a busy machine shows
(the end figure includes the bench's own work: the start figure is the one that tells what else
was running).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = ROOT / "bench-results"
MB = 1024 * 1024

T = TypeVar("T")


def setup_django() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taisly_dash.settings")
    import django

    django.setup()


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float:
    """Resident memory now."""
    kb = _status_kb("VmRSS")
    if kb is None:  # no /proc: the peak is the best we have
        return peak_rss_mb()
    return kb / 1024


def peak_rss_mb() -> float:
    """Resident memory high-water mark of this process."""
    kb = _status_kb("VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kb / 1024


def _reset_peak() -> bool:
    # Linux resets VmHWM to the current RSS when "5" is written here (since 4.0).
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def measure_peak_growth(action: Callable[[], T]) -> tuple[T, float]:
    """Run ``action`` and return its result and how far the resident peak rose above the
    resident size just before it, in MiB. Where the peak cannot be reset, an earlier peak
    counts too, which can only overstate the growth."""
    gc.collect()
    _reset_peak()
    before = rss_mb()
    result = action()
    return result, max(0.0, peak_rss_mb() - before)


def load_average() -> list[float]:
    """The machine's load average over 1, 5 and 15 minutes (empty where the OS has none)."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def production_env(
    workdir: Path, database_url: str, *, conn_max_age: int = 60, **extra: str
) -> dict[str, str]:
    """The environment of a production deployment (``DJANGO_ENV=production``) on the bench's own
    PostgreSQL database: a fresh secret key, encryption and fingerprint keys, static files
    collected under ``workdir`` (run ``collectstatic`` with it), persistent database connections
    as the README recommends (``DATABASE_CONN_MAX_AGE=60``) unless told otherwise, and the log
    level production has by default. Requests to it must say they came over HTTPS through the
    proxy (``PROXY_HEADERS``): production redirects plain HTTP and sends cookies only over
    HTTPS."""
    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "taisly_dash.settings",
        "DJANGO_ENV": "production",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TAISLY_DASH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "TAISLY_DASH_FINGERPRINT_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": str(conn_max_age),
        "STATIC_ROOT": str(workdir / "static"),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    env.pop("LOG_LEVEL", None)  # production's default level
    return env


#: What the reverse proxy in front of production adds: the request came over HTTPS.
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}


def ensure_database(url: str, *, fresh: bool = False) -> None:
    """Make the PostgreSQL database of ``url`` if it is missing; ``fresh``: drop it first. Only
    a database whose name says it is a benchmark's (contains "bench") is ever dropped."""
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(url)
    name = config["NAME"]
    if fresh and "bench" not in name:
        raise SystemExit(f"Refusing to drop {name!r}: a benchmark database's name has 'bench'.")
    admin = psycopg.connect(
        host=config["HOST"] or "127.0.0.1",
        port=config["PORT"] or 5432,
        user=config["USER"] or "postgres",
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    with admin:
        if fresh:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')


def write_results(name: str, data: dict[str, Any], *, load_start: list[float]) -> Path:
    """Write bench-results/<name>.json with the machine's load at the start (``load_start``,
    from ``load_average()`` when the bench began) and now."""
    data = {
        **data,
        "cpus": os.cpu_count(),
        "load_average_start": load_start,
        "load_average_end": load_average(),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path
