"""The eleven Taisly API operations, under /api/private/ with production paths."""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

from django.core.exceptions import BadRequest, SuspiciousOperation
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError

from sandbox import clock, probe, services, shapes
from sandbox.errors import bad_request
from sandbox.http import api_view, error, ok, read_json
from sandbox.models import ApiKey, Platform, RepostRule

MAX_DESCRIPTION = 2200
_DIGITS = re.compile(r"[0-9]+")  # not \d: that also matches other scripts' digits
# The last unix millisecond Python's datetime can hold (the end of year 9999).
_MAX_MS = 253_402_300_799_999


# --- Keys -----------------------------------------------------------------------------------


@api_view("GET")
def key_info(request: HttpRequest, key: ApiKey) -> JsonResponse:
    # lastUsedAt is the call before this one: the key object was read before it was counted.
    return ok(shapes.key_info(key))


@api_view("POST")
def key_generate(request: HttpRequest, key: ApiKey) -> JsonResponse:
    new_key, plaintext = services.key_issue(account=key.account, replacing=key)
    return ok(shapes.key_issued(new_key, plaintext))


@api_view("POST")
def key_revoke(request: HttpRequest, key: ApiKey) -> JsonResponse:
    services.key_revoke(key=key)
    return ok({"revoked": True})


# --- Platforms and posts --------------------------------------------------------------------


@api_view("GET")
def platforms(request: HttpRequest, key: ApiKey) -> JsonResponse:
    items = Platform.objects.filter(account=key.account)
    return ok([shapes.platform(item) for item in items])


@api_view("POST")
def post_create(request: HttpRequest, key: ApiKey) -> JsonResponse:
    # Every file goes to a temp file on disk as it streams in: a 500 MB video never sits in memory.
    request.upload_handlers = [DigestingUploadHandler(request)]
    try:
        try:
            video = request.FILES.get("video")
            fields = request.POST
        # SuspiciousOperation: too big, too many fields, too many files.
        except (MultiPartParserError, SuspiciousOperation, BadRequest):
            raise bad_request("INVALID_BODY", "The multipart body could not be read.") from None
        if video is None:
            raise bad_request("VIDEO_REQUIRED", "Attach the video file as the `video` field.")
        platform_ids = _platform_ids(fields.get("platforms"))
        description = fields.get("description", "")
        if len(description) > MAX_DESCRIPTION:
            raise bad_request(
                "DESCRIPTION_TOO_LONG", f"The description is over {MAX_DESCRIPTION} characters."
            )
        scheduled_ms = _scheduled(fields.get("scheduled"))
        preview_time = _preview_time(fields.get("previewTime"))
        targets = services.platforms_for(account=key.account, ids=platform_ids)
        probe_code = _probe_and_delete(video)
    finally:
        _delete_uploads(request)

    post = services.post_create(
        account=key.account,
        platforms=targets,
        description=description,
        preview_time=preview_time,
        scheduled_ms=scheduled_ms,
        probe_code=probe_code,
        video_name=video.name or "",
        video_size=video.size,
    )
    return JsonResponse(shapes.post_created(post, clock.now()))


def _platform_ids(raw: str | None) -> list[str]:
    if raw is None or not raw.strip():
        raise bad_request("PLATFORMS_REQUIRED", "Give `platforms`: a JSON array of platform ids.")
    try:
        ids = json.loads(raw)
    except ValueError:
        ids = None
    if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
        raise bad_request("PLATFORMS_INVALID", "`platforms` must be a JSON array of id strings.")
    if not ids:
        raise bad_request("PLATFORMS_REQUIRED", "`platforms` must name at least one platform.")
    return ids


def _scheduled(raw: str | None) -> int | None:
    # Omitted or empty means "post now". A time at or before now is also "post now".
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    if not _DIGITS.fullmatch(raw) or not 0 < int(raw) <= _MAX_MS:
        raise bad_request(
            "SCHEDULED_INVALID", "`scheduled` must be a positive unix time in milliseconds."
        )
    return int(raw)


def _preview_time(raw: str | None) -> float:
    if raw is None or not raw.strip():
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise bad_request("PREVIEW_TIME_INVALID", "`previewTime` must be a number of seconds ≥ 0.")
    return value


class DigestingUploadHandler(TemporaryFileUploadHandler):
    """Django's temp-file handler that also takes the SHA-256 of each file as it streams in,
    so a test can tell the exact bytes arrived (``GET /control/state``, ``lastUpload``)."""

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self._digest = hashlib.sha256()

    def receive_data_chunk(self, raw_data: bytes, start: int):
        self._digest.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size: int):
        file = super().file_complete(file_size)
        file.sha256 = self._digest.hexdigest()
        return file


def _probe_and_delete(video) -> str:
    path = video.temporary_file_path()
    try:
        code = probe.probe_video(path, video.size)
    finally:
        video.close()  # a NamedTemporaryFile: closing deletes it
        Path(path).unlink(missing_ok=True)
    probe.remember_upload(
        path=path, size=video.size, code=code, sha256=getattr(video, "sha256", "")
    )
    return code


def _delete_uploads(request: HttpRequest) -> None:
    # Any other file fields sent along; after a parse error Django has closed them already.
    uploads = [upload for _name, files in request.FILES.lists() for upload in files]
    for upload in uploads:
        upload.close()
        path = getattr(upload, "temporary_file_path", None)
        if path is not None:
            Path(path()).unlink(missing_ok=True)


@api_view("GET")
def post_history(request: HttpRequest, key: ApiKey) -> JsonResponse:
    query = request.GET
    now = clock.now()
    if "startTime" in query or "endTime" in query:
        start = _query_int(query, "startTime", minimum=0)
        end = _query_int(query, "endTime", minimum=0)
        if start > end:
            return error(400, "INVALID_QUERY", "startTime must not be after endTime.")
        posts = services.post_history_range(account=key.account, start_ms=start, end_ms=end)
        data = [shapes.post(item, now) for item in posts]
        return JsonResponse(
            {"success": True, "data": data, "page": 1, "totalPages": 1, "total": len(data)}
        )
    page = _query_int(query, "page", minimum=1) if "page" in query else 1
    result = services.post_history_page(account=key.account, page=page)
    return JsonResponse(
        {
            "success": True,
            "data": [shapes.post(item, now) for item in result.posts],
            "page": result.page,
            "totalPages": result.total_pages,
            "total": result.total,
        }
    )


def _query_int(query, name: str, *, minimum: int) -> int:
    raw = query.get(name, "").strip()
    if not _DIGITS.fullmatch(raw) or int(raw) < minimum or int(raw) > _MAX_MS:
        raise bad_request("INVALID_QUERY", f"`{name}` must be a whole number ≥ {minimum}.")
    return int(raw)


@api_view("GET")
def post_cancel(request: HttpRequest, key: ApiKey) -> JsonResponse:
    object_id = request.GET.get("id", "").strip()
    if not object_id:
        return error(400, "INVALID_QUERY", "Give the post's history id as `id`.")
    services.post_cancel(account=key.account, object_id=object_id)
    return ok({"id": object_id, "cancelled": True})


# --- Repost rules ---------------------------------------------------------------------------


@api_view("GET")
def reposts(request: HttpRequest, key: ApiKey) -> JsonResponse:
    rules = RepostRule.objects.filter(account=key.account).select_related("from_platform")
    return ok([shapes.repost_rule(rule) for rule in rules])


@api_view("POST")
def repost_add(request: HttpRequest, key: ApiKey) -> JsonResponse:
    body = read_json(request)
    source, targets = body.get("from"), body.get("to")
    if not isinstance(source, str) or not source:
        raise bad_request("INVALID_BODY", "`from` must be a platform id.")
    if (
        not isinstance(targets, list)
        or not targets
        or not all(isinstance(item, str) for item in targets)
    ):
        raise bad_request("INVALID_BODY", "`to` must be a non-empty array of platform ids.")
    rule = services.repost_add(account=key.account, from_id=source, to_ids=targets)
    return ok(shapes.repost_rule(rule))


@api_view("POST")
def repost_delete(request: HttpRequest, key: ApiKey) -> JsonResponse:
    object_id = _rule_id(read_json(request))
    services.repost_delete(account=key.account, object_id=object_id)
    return ok({"id": object_id, "deleted": True})


@api_view("POST")
def repost_pause(request: HttpRequest, key: ApiKey) -> JsonResponse:
    body = read_json(request)
    object_id = _rule_id(body)
    is_paused = body.get("isPaused")
    if not isinstance(is_paused, bool):
        raise bad_request("INVALID_BODY", "`isPaused` must be true or false.")
    rule = services.repost_pause(account=key.account, object_id=object_id, is_paused=is_paused)
    return ok(shapes.repost_rule(rule))


def _rule_id(body: dict) -> str:
    object_id = body.get("id")
    if not isinstance(object_id, str) or not object_id:
        raise bad_request("INVALID_BODY", "`id` must be a repost rule id.")
    return object_id
