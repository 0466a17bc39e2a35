"""The closing lines of `make bench`: each results file's verdict, headline figures and load.

python -m tests.bench.verdicts bench-results/*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: The figures each benchmark is judged on (its docstring says how), printed beside its verdict.
HEADLINES = {
    "upload": (
        "raw_floor_seconds",
        "wait_seconds",
        "forward_seconds",
        "wait_ratio_raw",
        "forward_ratio_raw",
        "wait_ratio",
        "forward_ratio",
        "web_rss_growth_mb",
        "worker_rss_growth_mb",
    ),
    "client_upload": ("peak_rss_growth_mb",),
    "bucket_forward": ("peak_rss_growth_mb", "tracemalloc_peak_mb", "exact_bytes"),
    "pages": (
        "p50_ratio_conn60",
        "p99_ratio_conn60",
        "calendar_p50_ratio_conn60",
        "calendar_p99_ratio_conn60",
        "calendar_week_p50_ratio_conn60",
        "calendar_week_p99_ratio_conn60",
        "p50_ratio_conn0",
        "calendar_p50_ratio_conn0",
        "growth_ratio_history",
        "growth_ratio_calendar",
        "growth_ratio_calendar_week",
    ),
    "load": (
        "users",
        "seconds",
        "requests",
        "errors",
        "p50_ms",
        "p99_ms",
        "rps",
        "web_rss_mb",
        "worker_rss_mb",
    ),
    "thumbnails": ("seconds_max", "ratio_max", "peak_rss_growth_mb_max", "thumbnail_bytes_max"),
    "sync": (
        "alert_p95_s_pro",
        "alert_p95_s_starter",
        "background_budget_share_max",
        "background_429s",
        "interactive_refusals",
        "alerts_missed",
        "alerts_duplicated",
    ),
}


def main(paths: list[str]) -> int:
    for name in paths:
        path = Path(name)
        data = json.loads(path.read_text())
        verdict = {True: "goal met", False: "GOAL MISSED"}.get(data.get("passed"), "no verdict")
        print(f"  {path}: {verdict}")
        figures = [f"{key} {data[key]}" for key in HEADLINES.get(path.stem, ()) if key in data]
        if figures:
            print("    " + ", ".join(figures))
        if data.get("goals_missed"):
            print("    missed: " + "; ".join(data["goals_missed"]))
        print(
            f"    load average {data.get('load_average_start', '?')} at the start, "
            f"{data.get('load_average_end', '?')} at the end ({data.get('cpus', '?')} CPUs)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
