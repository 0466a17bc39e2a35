"""Shared by the bench scripts: Django setup, memory figures, results files.

A bench measures in a child process it starts itself, so the figures are not polluted by the
parent's imports, the sandbox client or an earlier measurement.
"""

from __future__ import annotations

import gc
import json
import os
import resource
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


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path
