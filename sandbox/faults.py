"""Injected failures (POST /control/faults) and the middleware that applies them.

Faults form a queue in the database: each POST appends "the next N calls fail this way", calls
consume the oldest first, and only calls under /api/private/ consume them. A 500, garbage or 429
fault answers without carrying the call out (and without counting it against the rate limit);
timeout and drop carry it out normally (so it counts).
"""

from __future__ import annotations

import logging
import time

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse

from sandbox.errors import bad_request
from sandbox.http import error, rate_limited
from sandbox.models import Fault, FaultMode
from sandbox.server import drop_connection

logger = logging.getLogger(__name__)

DB = "sandbox"
API_PREFIX = "/api/private/"


def fault_add(*, mode: str, count: int = 1, delay: float = 20, retry_after: int = 30) -> Fault:
    if mode not in FaultMode.values:
        raise bad_request("INVALID_BODY", f"`mode` must be one of {', '.join(FaultMode.values)}.")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise bad_request("INVALID_BODY", "`count` must be a whole number ≥ 1.")
    if not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0:
        raise bad_request("INVALID_BODY", "`delay` must be a number of seconds ≥ 0.")
    if not isinstance(retry_after, int) or isinstance(retry_after, bool) or retry_after < 1:
        raise bad_request("INVALID_BODY", "`retryAfter` must be a whole number of seconds ≥ 1.")
    return Fault.objects.create(mode=mode, remaining=count, delay=delay, retry_after=retry_after)


def faults_clear() -> None:
    Fault.objects.all().delete()


def fault_claim() -> Fault | None:
    """Take one use of the oldest pending fault, or None. Safe across threads and processes."""
    if not Fault.objects.filter(remaining__gt=0).exists():  # the common case: no write lock
        return None
    with transaction.atomic(using=DB):
        fault = Fault.objects.select_for_update().filter(remaining__gt=0).first()
        if fault is None:
            return None
        Fault.objects.filter(pk=fault.pk).update(remaining=F("remaining") - 1)
        Fault.objects.filter(remaining__lte=0).delete()
    return fault


def fault_middleware(get_response):
    def middleware(request: HttpRequest) -> HttpResponse:
        # The index at /api/private/ is not an API call: it neither counts nor fails.
        if not request.path.startswith(API_PREFIX) or request.path == API_PREFIX:
            return get_response(request)
        fault = fault_claim()
        if fault is None:
            return get_response(request)
        logger.info("Injecting fault %s into %s %s", fault.mode, request.method, request.path)
        if fault.mode == FaultMode.ERROR_500:
            return error(500, "INTERNAL_ERROR", "Something went wrong on our side (injected).")
        if fault.mode == FaultMode.GARBAGE:
            return HttpResponse("<html>upstream error</html>", content_type="text/html")
        if fault.mode == FaultMode.RATE_LIMITED:
            return rate_limited(fault.retry_after)
        if fault.mode == FaultMode.TIMEOUT:
            time.sleep(fault.delay)
            return get_response(request)
        # DROP: carry the call out, then close the connection without writing the answer.
        response = get_response(request)
        drop_connection(request)
        return response

    return middleware
