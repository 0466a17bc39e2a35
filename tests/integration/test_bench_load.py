"""The load benchmark's harness (tests/bench/bench_load.py), kept from rotting: a short run of it
(7 people for 5 s, 2 of them uploading 8 MiB videos) on the same production stack `make bench`
runs at 50 people for 60 s: gunicorn with the image's configuration, both qclusters, the sandbox
over HTTP, a fresh PostgreSQL database of its own (named after this run's database, plus
``_bench_load``).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.bench import bench_load
from tests.bench.load_users import PAGES

pytestmark = [pytest.mark.postgres_only]

#: Every kind of request a run makes, however short: each page and poll (every browsing person
#: opens each once before picking by weight), what full pages request on load, and an upload
#: with its form and its progress.
EVERY_KIND = {kind for kind, _weight, _path, _htmx in PAGES} | {
    "alert_badge_everywhere",
    "compose",
    "upload",
    "progress",
    "login",
}


def _bench_database() -> str:
    url = urlsplit(os.environ.get("DATABASE_URL", ""))
    assert url.scheme.startswith("postgres"), "DATABASE_URL names no PostgreSQL"
    return urlunsplit(url._replace(path=url.path.rstrip("/") + "_bench_load"))


def test_a_short_load_run_answers_every_kind_of_request_as_expected(tmp_path):
    results = bench_load.run(
        users=7,
        seconds=5,
        uploaders=2,
        upload_mb=8,
        think=0.2,
        database_url=_bench_database(),
        workdir=tmp_path,
    )

    assert results["errors"] == 0, (results["error_samples"], results["server_tracebacks"])
    assert results["logged_in"] == 7
    made = {kind for kind, figure in results["kinds"].items() if figure["requests"] > 0}
    assert made >= EVERY_KIND, f"no request of {sorted(EVERY_KIND - made)}"
    # Every upload the web took reached Taisly through the uploads cluster.
    assert results["uploads"] > 0
    assert results["upload_ends"] == {"sent": results["uploads"]}
    assert results["requests"] == sum(
        figure["requests"] for kind, figure in results["kinds"].items() if kind != "login"
    )
    assert results["p50_ms"] > 0 and results["p99_ms"] >= results["p50_ms"]
    # The memory of every part was read: gunicorn's master and its 2 workers, each cluster's
    # qcluster process and what it forked.
    workers = int(os.environ.get("WEB_WORKERS", "2"))
    assert len(results["processes"]["web"]) == 1 + workers and results["web_rss_mb"] > 0
    for name in bench_load.CLUSTERS:
        assert len(results["processes"][name]) > 2 and results["worker_rss_mb"][name] > 0
