"""What a person opening the sandbox in a browser sees: its name and its endpoints, as JSON.

Answers `/`, `/api/private` and `/api/private/`, with no key, uncounted and untouched by faults.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox.http import error, ok

API = "/api/private"

# (method, path, what). tests/sandbox/test_server.py checks this against sandbox/urls.py.
ENDPOINTS = [
    ("GET", f"{API}/user/api-key", "information about the key in the Authorization header"),
    ("POST", f"{API}/user/api-key/generate", "a new key; the one sent stops working"),
    ("POST", f"{API}/user/api-key/revoke", "revoke the key sent"),
    ("GET", f"{API}/platform/platforms", "the account's connected social accounts"),
    ("POST", f"{API}/post", "post a video (multipart: video, platforms, description, ...)"),
    (
        "GET",
        f"{API}/post/history",
        "posts with a status per platform (?page= or ?startTime=&endTime=)",
    ),
    ("GET", f"{API}/post/cancelSchedule", "cancel a scheduled post (?id=)"),
    ("GET", f"{API}/reposts", "auto-repost rules"),
    ("POST", f"{API}/repost/add", 'a new rule {"from": id, "to": [id, ...]}'),
    ("POST", f"{API}/repost/delete", 'delete a rule {"id": id}'),
    ("POST", f"{API}/repost/pause", 'pause or resume a rule {"id": id, "isPaused": bool}'),
]
CONTROL = [
    ("POST", "/control/accounts", 'a new account and key {"plan", "platforms", "disconnected"}'),
    ("POST", "/control/clock", 'move the clock {"advance": seconds} or {"reset": true}'),
    ("POST", "/control/faults", 'queue faults {"mode", "count", "delay", "retryAfter"}'),
    ("DELETE", "/control/faults", "clear the fault queue"),
    ("GET", "/control/state", "the clock, pending faults and the last upload probed"),
]


def _rows(rows: list[tuple[str, str, str]]) -> list[dict]:
    return [{"method": method, "path": path, "what": what} for method, path, what in rows]


@csrf_exempt
def index(request: HttpRequest) -> JsonResponse:
    if request.method not in ("GET", "HEAD"):
        return error(405, "METHOD_NOT_ALLOWED", "Use GET.")
    return ok(
        {
            "name": "Taisly sandbox",
            "about": (
                "A local, Taisly-compatible API for development, demos and tests. "
                "Not Taisly: nothing is posted anywhere. API calls need "
                "'Authorization: Bearer taisly_...' with a key from /control/accounts "
                "or `manage.py sandbox_account`; /control/ has no auth."
            ),
            "baseUrl": request.build_absolute_uri(API),
            "endpoints": _rows(ENDPOINTS),
            "control": _rows(CONTROL),
        }
    )
