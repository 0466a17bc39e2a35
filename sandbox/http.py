"""Envelopes and the decorator every API view wears (auth, plan, rate limit, method)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import services
from sandbox.errors import ApiError, bad_request, invalid_key
from sandbox.models import Plan


def ok(data) -> JsonResponse:
    return JsonResponse({"success": True, "data": data})


def error(status: int, code: str, message: str, **extra) -> JsonResponse:
    body = {"success": False, "message": code, "error": message, **extra}
    return JsonResponse(body, status=status)


def rate_limited(retry_after: int) -> JsonResponse:
    response = error(
        429,
        "RATE_LIMITED",
        f"Too many requests for this API key; try again in {retry_after} seconds.",
        retryAfter=retry_after,
    )
    response["Retry-After"] = str(retry_after)
    return response


def read_json(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise bad_request("INVALID_BODY", "The request body is not valid JSON.") from None
    except RequestDataTooBig:
        raise bad_request("INVALID_BODY", "The request body is too large.") from None
    if not isinstance(body, dict):
        raise bad_request("INVALID_BODY", "The request body must be a JSON object.")
    return body


def api_view(*methods: str) -> Callable:
    """Authenticate the Bearer key, refuse FREE, count the call, check the method.

    Every authenticated call of a paying plan is counted, whatever it answers afterwards (a 400,
    a 404 or a 405 too); a 401, a 403 and a 429 are not. The view is called as view(request, key).
    """

    def decorator(view: Callable) -> Callable:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            try:
                scheme, _, plaintext = request.headers.get("Authorization", "").partition(" ")
                key = services.key_find(plaintext.strip()) if scheme.lower() == "bearer" else None
                if key is None:
                    raise invalid_key()
                if key.account.plan == Plan.FREE:
                    return error(
                        403,
                        "PLAN_NOT_ALLOWED",
                        "The FREE plan cannot use the API: upgrade to use it.",
                    )
                retry_after = services.call_record(key=key)
                if retry_after is not None:
                    return rate_limited(retry_after)
                if request.method not in methods:
                    return error(
                        405, "METHOD_NOT_ALLOWED", f"Use {' or '.join(methods)} for this endpoint."
                    )
                return view(request, key, *args, **kwargs)
            except ApiError as exc:
                return error(exc.status, exc.code, exc.message)

        return wrapper

    return decorator
