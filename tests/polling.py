"""Waiting for a state, never for a time: ``wait_until`` polls a condition until it holds or a
deadline passes (then fails, saying what it waited for).

A fixed sleep guesses how long something takes: too short and the test fails on a busy machine,
too long and every run pays for it, and after a sleep a negative assertion ("nothing happened")
proves nothing unless something showed that it would have happened by then. Poll for the
signal itself instead: a row, a page state, a backend waiting on a lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], *, what: str, timeout: float = 10, every: float = 0.05
) -> T:
    """``condition()``'s first truthy value, polled every ``every`` s for up to ``timeout`` s.

    ``condition`` may raise (an ``AssertionError`` saying why waiting longer is pointless, say
    when the thread it watches has finished): that ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"Waited {timeout} s for {what}, in vain.")
        time.sleep(every)


def backend_pid() -> int:
    """This thread's PostgreSQL backend (Django opens one connection per thread)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def waits_on_a_lock(pid: int) -> bool:
    """Whether PostgreSQL backend ``pid`` is queued for a lock another transaction holds (a row
    locked by SELECT … FOR UPDATE or by an uncommitted write shows as an ungranted lock)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)", [pid]
        )
        return cursor.fetchone()[0]
