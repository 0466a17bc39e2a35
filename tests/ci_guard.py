"""In CI (CI=true) a skipped test fails the run: a skip must never turn CI green. Nor may a
test be left out: ``ALLOW_SQLITE`` (tests/conftest.py) has no effect in CI."""

from __future__ import annotations

import os

import pytest

_skipped: list[str] = []


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if in_ci() and _skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if in_ci() and _skipped:
        terminalreporter.write_line(
            f"CI: {len(_skipped)} test(s) skipped, which fails the run: " + ", ".join(_skipped),
            red=True,
        )
