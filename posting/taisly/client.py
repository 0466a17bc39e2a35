"""The one client for the Taisly API: every call the project makes to Taisly goes through here.

One method per API operation. Each call has a timeout, sends the key only in the
``Authorization`` header, raises a typed ``TaislyError`` on any failure, and is announced through
the ``taisly_call`` signal (success or failure) for the quota ledger.
"""

from __future__ import annotations

import io
import json
import logging
import math
import mimetypes
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import requests
import urllib3.exceptions
from django.conf import settings
from urllib3.fields import RequestField

from . import parse
from .errors import (
    TaislyAuthError,
    TaislyError,
    TaislyForbidden,
    TaislyProtocolError,
    TaislyRateLimited,
    TaislyRejected,
    TaislyServerError,
    TaislyUnavailable,
    scrub,
)
from .signals import taisly_call
from .types import (
    CallRecord,
    CreatedPost,
    GeneratedKey,
    HistoryPage,
    HistoryPost,
    KeyInfo,
    Platform,
    RepostRule,
    key_hint,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
Timeout = float | tuple[float, float]
ProgressCallback = Callable[[int, int], object]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_USER_AGENT = "taisly-dash/0.1 (+python-requests)"

# The extensions the Agent Kit accepts, with the types it sends; the system table is the fallback.
VIDEO_CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".avi": "video/x-msvideo",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".flv": "video/x-flv",
    ".mpeg": "video/mpeg",
    ".mpg": "video/mpeg",
}

# A failure inside a 2xx (`success: false`) is classified by its code, as a 4xx would be.
_CODE_ERRORS: dict[str, type[TaislyError]] = {
    "INVALID_API_KEY": TaislyAuthError,
    "UNAUTHORIZED": TaislyAuthError,
    "PLAN_NOT_ALLOWED": TaislyForbidden,
    "FORBIDDEN": TaislyForbidden,
}


class _BearerAuth(requests.auth.AuthBase):
    """Puts the key in the Authorization header. As an ``auth`` object (not a session header) it
    also stops requests from replacing the header with ``.netrc`` credentials, and never
    touches a session the caller shares with other clients."""

    def __init__(self, api_key: str) -> None:
        self._header = f"Bearer {api_key}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        return "<_BearerAuth>"


#: The video goes out in blocks this large: each is read into one reused buffer and handed to
#: the socket as is, so a 500 MB upload is 500 trips through Python, not 32,000.
UPLOAD_BLOCK_BYTES = 1024 * 1024


class MultipartBody:
    """A ``multipart/form-data`` body of a few text fields and one file, streamed from the file.

    Written here rather than taken from requests-toolbelt's ``MultipartEncoder``: that one
    serves every read by copying the file's bytes into a ``BytesIO`` buffer and out again,
    twice more per byte than needed (tests/bench/bench_upload.py measures the forward). This
    body is an iterable with a length, so
    requests sends it with a ``Content-Length`` (never chunked) and urllib3 passes each piece
    straight to ``sendall``: the text parts and the file's part headers, then the file block by
    block (``readinto`` one reused buffer: one block is all that is ever held), then the
    closing boundary. The bytes are those ``MultipartEncoder`` sends for the same fields and
    boundary (a test compares them); the part headers come from urllib3's ``RequestField``, as
    there.

    Each pass over it starts again at the file's position when it was made; ``on_progress``
    hears ``(bytes_sent, total)`` after each piece has been handed to the socket, ending with
    ``bytes_sent == total``. A file that ends before its measured size raises ``ValueError``
    rather than sending a body shorter than its ``Content-Length``.
    """

    def __init__(
        self,
        fields: Iterable[tuple[str, str]],
        *,
        file_field: str,
        fileobj: IO[bytes],
        filename: str,
        content_type: str,
        on_progress: ProgressCallback | None = None,
        boundary: str | None = None,
        block_bytes: int = UPLOAD_BLOCK_BYTES,
    ) -> None:
        self.boundary = boundary or uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        delimiter = b"--" + self.boundary.encode("ascii") + b"\r\n"
        head = bytearray()
        for name, value in fields:
            field = RequestField(name=name, data=value)
            field.make_multipart()
            head += delimiter + field.render_headers().encode("utf-8")
            head += value.encode("utf-8") + b"\r\n"
        video = RequestField(name=file_field, data=b"", filename=filename)
        video.make_multipart(content_type=content_type)
        head += delimiter + video.render_headers().encode("utf-8")
        self._head = bytes(head)
        self._tail = b"\r\n--" + self.boundary.encode("ascii") + b"--\r\n"
        self._fileobj = fileobj
        self._start = fileobj.tell()
        self.file_bytes = fileobj.seek(0, io.SEEK_END) - self._start
        fileobj.seek(self._start)
        self._length = len(self._head) + self.file_bytes + len(self._tail)
        self._on_progress = on_progress
        self._block_bytes = block_bytes

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes | memoryview]:
        fileobj, report = self._fileobj, self._on_progress or _ignore_progress
        fileobj.seek(self._start)
        total = self._length
        yield self._head
        sent = len(self._head)
        report(sent, total)
        readinto = getattr(fileobj, "readinto", None)
        buffer = memoryview(bytearray(min(self._block_bytes, self.file_bytes) or 1))
        remaining = self.file_bytes
        while remaining:
            want = min(len(buffer), remaining)
            if readinto is not None:
                got = readinto(buffer[:want]) or 0
                # Only valid until the next piece is asked for: urllib3 sends each piece before
                # it asks, so the buffer is free to be filled again by then.
                piece: bytes | memoryview = buffer[:got]
            else:
                piece = fileobj.read(want) or b""
                got = len(piece)
            if not got:
                raise ValueError("The video file ended before its size; it changed while sent.")
            yield piece
            sent += got
            remaining -= got
            report(sent, total)
        yield self._tail
        report(total, total)


def _ignore_progress(sent: int, total: int) -> None:
    return None


class TaislyClient:
    """A client for one Taisly key.

    ``context`` is passed untouched to ``taisly_call`` receivers (the ledger uses it to know which
    connection a call belongs to). ``timeout`` is ``(connect, read)`` seconds or one number for
    both; uploads use ``upload_read_timeout`` (default ``TAISLY_UPLOAD_READ_TIMEOUT``) to read
    the answer. A ``session`` passed in is used as is and not closed by :meth:`close`.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        timeout: Timeout | None = None,
        upload_read_timeout: float | None = None,
        session: requests.Session | None = None,
        context: object = None,
    ) -> None:
        self._set_key(api_key)
        self.base_url = (base_url or settings.TAISLY_BASE_URL).rstrip("/")
        if timeout is None:
            timeout = (settings.TAISLY_CONNECT_TIMEOUT, settings.TAISLY_READ_TIMEOUT)
        elif not isinstance(timeout, tuple):
            timeout = (float(timeout), float(timeout))
        self.timeout: tuple[float, float] = timeout
        self.upload_timeout: tuple[float, float] = (
            timeout[0],
            upload_read_timeout or settings.TAISLY_UPLOAD_READ_TIMEOUT,
        )
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()
        self.context = context

    def _set_key(self, api_key: str) -> None:
        api_key = api_key.strip() if isinstance(api_key, str) else ""
        # A control character or space would make requests reject the header with the whole
        # header value (the key) in its error message: refuse it here, without echoing it.
        if not api_key or not api_key.isascii() or not api_key.isprintable() or " " in api_key:
            raise ValueError("A Taisly API key must be a non-empty string of visible characters.")
        self._api_key = api_key
        self._auth = _BearerAuth(api_key)

    @property
    def key_hint(self) -> str:
        return key_hint(self._api_key)

    def __repr__(self) -> str:
        return f"<TaislyClient {self.base_url} key={self.key_hint}>"

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> TaislyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- Key ---------------------------------------------------------------------------------

    def key_info(self) -> KeyInfo:
        """Plan, hint and dates of the current key."""
        return self._call("GET", "/user/api-key", parse=parse.key_info)

    def key_generate(self) -> GeneratedKey:
        """Create or regenerate the key. The old key stops working at once, so this client
        carries on with the new one. The full key is in the answer only this once."""
        generated = self._call("POST", "/user/api-key/generate", parse=parse.generated_key)
        self._set_key(generated.api_key)
        return generated

    def key_revoke(self) -> None:
        """Revoke the current key; every later call with it (this client's too) fails."""
        self._call("POST", "/user/api-key/revoke", parse=_ignore)

    # --- Platforms ---------------------------------------------------------------------------

    def platforms(self) -> tuple[Platform, ...]:
        """The connected social accounts."""
        return self._call("GET", "/platform/platforms", parse=parse.platforms)

    # --- Posts -------------------------------------------------------------------------------

    def create_post(
        self,
        video: str | os.PathLike[str] | IO[bytes],
        *,
        platforms: Iterable[str],
        description: str = "",
        preview_time: float = 0,
        scheduled: datetime | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> CreatedPost:
        """Upload a video to the given platform ids, now or at ``scheduled`` (aware datetime).

        The video is streamed from disk (a path, or a binary file object the caller closes), so
        memory stays flat whatever its size. ``on_progress(bytes_sent, total_bytes)`` is called
        as the body goes out, ending with ``bytes_sent == total_bytes``.

        On failure, check ``error.ambiguous``: when True the post may exist at Taisly, so
        reconcile against history before trying again.
        """
        platform_ids = _platform_ids(platforms)
        if not platform_ids:
            raise ValueError("create_post needs at least one platform id.")
        if isinstance(preview_time, bool) or preview_time < 0:
            raise ValueError("preview_time is seconds into the video, 0 or more.")
        fields: list[tuple[str, str]] = [
            ("platforms", json.dumps(platform_ids)),
            ("description", description),
            ("previewTime", _format_seconds(preview_time)),
        ]
        if scheduled is not None:
            fields.append(("scheduled", str(unix_ms(scheduled))))

        with _open_video(video) as (fileobj, filename):
            body = MultipartBody(
                fields,
                file_field="video",
                fileobj=fileobj,
                filename=filename,
                content_type=guess_content_type(filename),
                on_progress=on_progress,
                block_bytes=UPLOAD_BLOCK_BYTES,
            )
            return self._call(
                "POST",
                "/post",
                data=body,
                headers={"Content-Type": body.content_type},
                timeout=self.upload_timeout,
                parse=lambda b: parse.created_post(b, asked_scheduled=scheduled is not None),
            )

    def history(self, page: int = 1) -> HistoryPage:
        """One page (10 posts, newest first) of post history with per-platform status."""
        if page < 1:
            raise ValueError("History pages start at 1.")
        return self._call(
            "GET",
            "/post/history",
            params={"page": page},
            parse=lambda b: parse.history_page(b, page=page),
        )

    def history_between(self, start: datetime, end: datetime) -> tuple[HistoryPost, ...]:
        """Every post whose time falls between ``start`` and ``end`` (aware datetimes)."""
        start_ms, end_ms = unix_ms(start), unix_ms(end)
        if start_ms > end_ms:
            raise ValueError("history_between needs start <= end.")
        return self._call(
            "GET",
            "/post/history",
            params={"startTime": start_ms, "endTime": end_ms},
            parse=parse.history_posts,
        )

    def cancel_scheduled(self, post_id: str) -> None:
        """Cancel a scheduled post (Taisly deletes it)."""
        self._call("GET", "/post/cancelSchedule", params={"id": post_id}, parse=_ignore)

    # --- Auto-repost rules -------------------------------------------------------------------

    def reposts(self) -> tuple[RepostRule, ...]:
        return self._call("GET", "/reposts", parse=parse.repost_rules)

    def repost_add(self, from_platform: str, to_platforms: Iterable[str]) -> RepostRule:
        """A rule: what is posted to ``from_platform`` is reposted to each of ``to_platforms``."""
        targets = _platform_ids(to_platforms)
        if not targets:
            raise ValueError("repost_add needs at least one destination platform id.")
        return self._call(
            "POST",
            "/repost/add",
            json_body={"from": from_platform, "to": targets},
            parse=parse.single_rule,
        )

    def repost_delete(self, rule_id: str) -> None:
        self._call("POST", "/repost/delete", json_body={"id": rule_id}, parse=_ignore)

    def repost_pause(self, rule_id: str, paused: bool = True) -> RepostRule:
        return self._call(
            "POST",
            "/repost/pause",
            json_body={"id": rule_id, "isPaused": bool(paused)},
            parse=parse.single_rule,
        )

    def repost_resume(self, rule_id: str) -> RepostRule:
        return self.repost_pause(rule_id, False)

    # --- Plumbing ----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        parse: Callable[[Any], T],
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> T:
        endpoint = f"{method} {path}"
        started_at = datetime.now(UTC)
        start = time.perf_counter()
        status: int | None = None
        error_code: str | None = "CLIENT_ERROR"  # unless we get to set it properly below
        try:
            # Failures are built inside except blocks but raised outside them, so no exception
            # from requests (which holds the request and its Authorization header) is chained
            # to them, not even as __context__.
            response, failure = self._send(
                method, path, endpoint, params, json_body, data, headers, timeout
            )
            if response is not None:
                status = response.status_code
                body, failure = _read_answer(response, endpoint)
                if failure is None:
                    result, failure = _parse_answer(parse, body, status, endpoint)
            if failure is not None:
                error_code = failure.error_code
                raise failure
            error_code = None
            return result
        finally:
            duration_ms = round((time.perf_counter() - start) * 1000)
            logger.debug(
                "Taisly %s -> %s in %d ms%s",
                endpoint,
                status if status is not None else "no answer",
                duration_ms,
                f" ({error_code})" if error_code else "",
            )
            record = CallRecord(
                endpoint=endpoint,
                status=status,
                duration_ms=duration_ms,
                started_at=started_at,
                error_code=error_code,
            )
            # send_robust: a failing receiver is logged by Django and cannot break the call.
            taisly_call.send_robust(sender=TaislyClient, record=record, context=self.context)

    def _send(
        self,
        method: str,
        path: str,
        endpoint: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        data: Any,
        headers: Mapping[str, str] | None,
        timeout: tuple[float, float] | None,
    ) -> tuple[requests.Response | None, TaislyError | None]:
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                params=params,
                json=json_body,
                data=data,
                headers={
                    "Accept": "application/json",
                    "User-Agent": _USER_AGENT,
                    **(headers or {}),
                },
                auth=self._auth,
                timeout=timeout or self.timeout,
                # A redirect would resend (or fail to resend) a consumed upload stream; the API
                # does not redirect, so one is reported rather than followed.
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            connect = isinstance(exc, requests.ConnectTimeout)
            return None, TaislyUnavailable(
                _describe(exc, "connecting timed out" if connect else "timed out waiting"),
                ambiguous=not connect,
                timeout=True,
                endpoint=endpoint,
            )
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            return None, TaislyUnavailable(
                _describe(exc, "connection failed"),
                ambiguous=not _never_sent(exc),
                timeout=False,
                endpoint=endpoint,
            )
        except requests.RequestException as exc:
            # A bad base URL and the like: nothing was sent and retrying will not help.
            return None, TaislyError(_describe(exc, "request not sent"), endpoint=endpoint)
        return response, None


def _read_answer(response: requests.Response, endpoint: str) -> tuple[Any, TaislyError | None]:
    """The JSON body of a successful answer, or the error an unsuccessful one stands for."""
    status = response.status_code
    try:
        body = json.loads(response.content) if response.content else None
        readable = body is not None
    except ValueError:
        body, readable = None, False

    code = detail = None
    if isinstance(body, Mapping):
        code = parse.text(body.get("message")) if isinstance(body.get("message"), str) else None
        detail = next(
            (body[k] for k in ("error", "detailMessage") if isinstance(body.get(k), str)), None
        )

    if 200 <= status < 300:
        if not readable:
            kind = response.headers.get("Content-Type") or "no content type"
            return None, TaislyProtocolError(
                f"The answer is not JSON ({kind}, {len(response.content)} bytes).",
                status=status,
                endpoint=endpoint,
            )
        if isinstance(body, Mapping) and body.get("success") is False:
            cls = _CODE_ERRORS.get(code or "", TaislyRejected)
            if code == "RATE_LIMITED":
                return None, TaislyRateLimited(
                    detail,
                    retry_after=_retry_after(body, response.headers),
                    status=status,
                    code=code,
                    endpoint=endpoint,
                )
            return None, cls(detail, status=status, code=code, endpoint=endpoint)
        return body, None

    detail = detail or response.reason
    kwargs = {"status": status, "code": code, "endpoint": endpoint}
    if status == 429:
        error: TaislyError = TaislyRateLimited(
            detail, retry_after=_retry_after(body, response.headers), **kwargs
        )
    elif status == 401:
        error = TaislyAuthError(detail, **kwargs)
    elif status == 403:
        error = TaislyForbidden(detail, **kwargs)
    elif 400 <= status < 500:
        error = TaislyRejected(detail, **kwargs)
    elif status >= 500:
        error = TaislyServerError(detail, **kwargs)
    else:
        error = TaislyProtocolError(f"Unexpected HTTP status ({detail}).", **kwargs)
    return None, error


def _parse_answer(
    reader: Callable[[Any], T], body: Any, status: int, endpoint: str
) -> tuple[T | None, TaislyError | None]:
    try:
        return reader(body), None
    except parse.Malformed as exc:
        return None, TaislyProtocolError(
            f"The answer lacks what is needed: {exc}.", status=status, endpoint=endpoint
        )


def _retry_after(body: Any, headers: Mapping[str, str]) -> int:
    """Seconds to wait after a 429: the body's ``retryAfter``, else the header, else 60."""
    candidates: list[Any] = []
    if isinstance(body, Mapping):
        data = body.get("data")
        candidates += [
            body.get("retryAfter"),
            data.get("retryAfter") if isinstance(data, Mapping) else None,
        ]
    candidates.append(headers.get("Retry-After"))
    for value in candidates:
        seconds = _seconds_from(value)
        if seconds is not None:
            return max(1, math.ceil(seconds))
    return TaislyRateLimited.DEFAULT_RETRY_AFTER


def _seconds_from(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    if isinstance(value, str):  # Retry-After may be an HTTP date
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return None


def _never_sent(exc: requests.RequestException) -> bool:
    """True only when the connection was never made, so Taisly cannot have seen the request."""
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    return isinstance(
        reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
    )


def _describe(exc: requests.RequestException, what: str) -> str:
    # requests' messages name the host and path (never the key, which only travels in a
    # header); scrub them anyway, and keep them short.
    message = scrub(str(exc)) or ""
    if len(message) > 300:
        message = message[:300] + "…"
    return f"{what}: {type(exc).__name__}: {message}"


def _ignore(body: Any) -> None:
    return None


def _platform_ids(ids: Iterable[str]) -> list[str]:
    if isinstance(ids, str):
        ids = [ids]
    return [str(i) for i in ids if i]


def unix_ms(moment: datetime) -> int:
    """Unix milliseconds, as Taisly takes times. Naive datetimes are refused, not guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("Times sent to Taisly must be timezone-aware.")
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def guess_content_type(filename: str) -> str:
    extension = Path(filename).suffix.lower()
    return (
        VIDEO_CONTENT_TYPES.get(extension)
        or mimetypes.guess_type(filename)[0]
        or "application/octet-stream"
    )


@contextmanager
def _open_video(video: str | os.PathLike[str] | IO[bytes]) -> Iterator[tuple[Any, str]]:
    """The video as a binary stream (sized by seeking), and the filename to send."""
    if isinstance(video, str | os.PathLike):
        path = Path(video)
        with path.open("rb") as fileobj:
            yield fileobj, path.name
        return
    if isinstance(video, io.TextIOBase) or not hasattr(video, "read"):
        raise TypeError("video must be a path or a file opened in binary mode.")
    name = getattr(video, "name", None)
    filename = os.path.basename(name) if isinstance(name, str) and name else "video.mp4"
    yield video, filename
