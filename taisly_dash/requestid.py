"""The request id: one per request, on every log line of that request and of the tasks it
queues, and on its response (``X-Request-ID``), so one line of a log leads to all the others.

    request ──▶ RequestIdMiddleware: X-Request-ID from the proxy (when trusted and well formed)
                or a new one; set for the request, sent back on the response
        └─ async_task(...) ──▶ pre_enqueue: the id goes into the task package (beside its
                               arguments: never a key, the id is not a secret)
              worker ──▶ pre_execute: the task's id (a new one for a schedule's run) for the
                         length of the task, so its lines and the tasks it queues carry it

Every enqueue goes through django-q2's ``async_task`` (the schedules' too), so its signals are
the one place this happens: no call site passes anything. ``RequestIdFilter`` puts the id on
every log record (``request_id``; None outside a request or a task).

Only Python's standard library is imported here: gunicorn's logging uses the filter before
Django is set up.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from contextvars import ContextVar, Token

logger = logging.getLogger(__name__)

HEADER = "X-Request-ID"
#: Where the id rides in a django-q2 task package.
TASK_KEY = "request_id"
#: What is taken from a proxy's header: what proxies make (nginx's 32 hex digits, a UUID,
#: Heroku's and Envoy's) and nothing a log line or a header could be bent with.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{8,128}")

_current: ContextVar[str | None] = ContextVar("taisly_dash_request_id", default=None)


def get() -> str | None:
    """The id of the request or task this code runs for, or None."""
    return _current.get()


def new() -> str:
    return secrets.token_hex(16)


def from_header(value: str | None) -> str | None:
    """``value`` when it is a well-formed id, else None (a new one is made instead)."""
    if value and _WELL_FORMED.fullmatch(value):
        return value
    return None


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record as ``request_id``. Django logs a 4xx or 5xx
    answer ("Not Found: …") after the middleware returned, with the request on the record: its
    id is taken from there."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = _current.get() or getattr(
                getattr(record, "request", None), "request_id", None
            )
        return True


class RequestIdMiddleware:
    """First in MIDDLEWARE, so every line of a request, the other middleware's too, has it.

    The header is taken only with ``REQUEST_ID_TRUST_HEADER`` (on by default: a proxy in front
    that sets it, such as nginx's ``$request_id``, ties its own log to ours); a header that is
    not well formed is ignored."""

    def __init__(self, get_response) -> None:
        from django.conf import settings

        self.get_response = get_response
        self.trust_header = settings.REQUEST_ID_TRUST_HEADER

    def __call__(self, request):
        given = from_header(request.headers.get(HEADER)) if self.trust_header else None
        request_id = given or new()
        request.request_id = request_id
        token = _current.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = request_id
        return response


# --- django-q2: the id into the task package, and out of it in the worker ------------------

_running = threading.local()


def attach_to_task(sender, task: dict, **kwargs) -> None:
    """pre_enqueue: the current id goes with the task (a task queued by a task passes it on)."""
    request_id = _current.get()
    if request_id and TASK_KEY not in task:
        task[TASK_KEY] = request_id


def adopt_from_task(sender, task: dict, **kwargs) -> None:
    """pre_execute, in the worker: the task's id for the length of the task. A schedule's run
    queued by no request gets an id of its own, shared with the tasks it queues."""
    request_id = from_header(task.get(TASK_KEY)) or new()
    stack: list[tuple[Token, float]] = _running.__dict__.setdefault("stack", [])
    stack.append((_current.set(request_id), time.monotonic()))


def release_after_task(sender, task: dict, **kwargs) -> None:
    """post_execute_in_worker: one line saying how the task ended (with its id), then the id
    it ran under is dropped (in tests, tasks run inside the request: its id comes back)."""
    stack: list[tuple[Token, float]] = _running.__dict__.get("stack", [])
    if not stack:
        return
    token, started = stack.pop()
    logger.info(
        "Task %s (%s) %s in %.2f s",
        task.get("name"),
        task.get("func") if isinstance(task.get("func"), str) else "a function",
        "succeeded" if task.get("success") else "failed",
        time.monotonic() - started,
    )
    _current.reset(token)
