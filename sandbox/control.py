"""Control endpoints under /control/: accounts, the clock, faults, state. No auth: never expose
the sandbox beyond a development machine or a test run."""

from __future__ import annotations

import math
from functools import wraps

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import clock, faults, probe, services, shapes
from sandbox.errors import ApiError, bad_request
from sandbox.http import error, ok, read_json
from sandbox.models import Fault, Platform


def _control(*methods: str):
    def decorator(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if request.method not in methods:
                return error(405, "METHOD_NOT_ALLOWED", f"Use {' or '.join(methods)}.")
            try:
                return view(request, *args, **kwargs)
            except ApiError as exc:
                return error(exc.status, exc.code, exc.message)

        return wrapper

    return decorator


def _string_list(body: dict, name: str, default: list[str]) -> list[str]:
    value = body.get(name, default)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise bad_request("INVALID_BODY", f"`{name}` must be an array of network names.")
    return value


@_control("POST")
def accounts(request: HttpRequest) -> JsonResponse:
    """Same answer as `manage.py sandbox_account`: {"api_key", "plan", "platforms"} at top level."""
    body = read_json(request)
    plan = body.get("plan", "STARTER")
    if not isinstance(plan, str):
        raise bad_request("INVALID_BODY", "`plan` must be a plan name.")
    account, plaintext = services.account_create(
        plan=plan,
        networks=_string_list(
            body, "platforms", ["TikTok", "Instagram", "YouTube", "X", "Facebook"]
        ),
        disconnected=_string_list(body, "disconnected", []),
    )
    return JsonResponse(shapes.account_created(account, plaintext))


@_control("POST")
def clock_move(request: HttpRequest) -> JsonResponse:
    body = read_json(request)
    if body.get("reset") is True:
        clock.reset()
    elif "offset" in body:
        seconds = body["offset"]
        if (
            not isinstance(seconds, int | float)
            or isinstance(seconds, bool)
            or not math.isfinite(seconds)
        ):
            raise bad_request("INVALID_BODY", "`offset` must be a number of seconds.")
        clock.set_offset(seconds)
    else:
        seconds = body.get("advance")
        if (
            not isinstance(seconds, int | float)
            or isinstance(seconds, bool)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise bad_request(
                "INVALID_BODY",
                'Send {"advance": seconds ≥ 0}, {"offset": seconds} or {"reset": true}.',
            )
        clock.advance(seconds)
    return ok(_clock_state())


@_control("POST")
def platform_connection(request: HttpRequest) -> JsonResponse:
    """`{"id": platform id, "connected": bool}`: connect or disconnect a platform, as its owner
    would in Taisly's app. Posts made afterwards follow it; posts made before keep their fate."""
    body = read_json(request)
    connected = body.get("connected")
    if not isinstance(connected, bool):
        raise bad_request("INVALID_BODY", "`connected` must be true or false.")
    platform = Platform.objects.filter(object_id=str(body.get("id", ""))).first()
    if platform is None:
        raise ApiError(404, "PLATFORM_NOT_FOUND", "No platform with that id.")
    platform.connected = connected
    platform.save(update_fields=["connected"])
    return ok(shapes.platform(platform))


def _clock_state() -> dict:
    return {"now": clock.iso(clock.now()), "offsetSeconds": clock.offset_seconds()}


@_control("POST", "DELETE")
def fault_queue(request: HttpRequest) -> JsonResponse:
    if request.method == "DELETE":
        faults.faults_clear()
        return ok({"cleared": True})
    body = read_json(request)
    fault = faults.fault_add(
        mode=str(body.get("mode", "")),
        count=body.get("count", 1),
        delay=body.get("delay", 20),
        retry_after=body.get("retryAfter", 30),
    )
    return ok(_fault(fault))


def _fault(fault: Fault) -> dict:
    return {
        "mode": fault.mode,
        "remaining": fault.remaining,
        "delay": fault.delay,
        "retryAfter": fault.retry_after,
    }


@_control("GET")
def state(request: HttpRequest) -> JsonResponse:
    return ok(
        {
            **_clock_state(),
            "faults": [_fault(fault) for fault in Fault.objects.filter(remaining__gt=0)],
            "lastUpload": probe.last_upload() or None,
        }
    )


@csrf_exempt
def not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    return error(404, "NOT_FOUND", f"No such endpoint: {request.method} {request.path}.")


# Django's own error answers (handler400/403/500 in urls.py), for failures outside the views'
# reach: a malformed request Django refuses itself, an exception in a middleware. Without them
# Django answers with an HTML page, not the envelope.


def request_refused(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error(400, "INVALID_REQUEST", "The request could not be read.")


def forbidden(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error(403, "FORBIDDEN", "This request is not allowed.")


def server_error(request: HttpRequest) -> JsonResponse:
    return error(500, "INTERNAL_ERROR", "Something went wrong in the sandbox.")
