"""A kept video served with HTTP range requests, so a ``<video>`` element plays it and seeks in it
(a browser asks ``Range: bytes=N-`` for each seek and will not seek in a 200 without
``Accept-Ranges``).

Hand-written rather than django-ranged-response: that package (last release 2017) wraps Django's
``FileResponse`` over the storage's own file object, which for the bucket is django-storages'
``S3File``, downloading the whole object into memory on its first read; it also answers a range
it cannot satisfy with the whole file instead of a 416. Here the video is opened through
``posting.sending.stored_video.open_video`` (on disk the file itself; in a bucket a ranged
``GetObject`` from the asked byte on) and only the asked bytes are streamed, a block at a time.
The bytes always come through this view, never a storage URL: the page's CSP stays
``media-src 'self'`` and only a member, or a review link covering the draft, may fetch them.

One range per request (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``). Several ranges are allowed by
RFC 9110 to be answered with the whole representation, which is what happens here (a 200); no
browser asks for them when playing a video.
"""

from __future__ import annotations

import logging
import mimetypes
import re
from collections.abc import Iterator

from django.db.models.fields.files import FieldFile
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _

from posting.sending.stored_video import StoredVideoUnreadable, open_video

logger = logging.getLogger(__name__)

BLOCK = 256 * 1024
_ONE_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")


def parse_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """``(first, last)`` (both included) for one satisfiable range; None when the header asks
    for no single range this answer honours (absent, not bytes, several ranges: the whole file
    is sent); False when it asks for a range beyond the file (a 416)."""
    header = header.strip()
    if not header:
        return None
    match = _ONE_RANGE.fullmatch(header.replace(" ", ""))
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text:
        if not last_text:
            return None
        length = int(last_text)
        if length == 0 or size == 0:
            return False
        return max(0, size - length), size - 1
    first = int(first_text)
    if first >= size:
        return False
    last = int(last_text) if last_text else size - 1
    if last < first:
        return None  # not a valid range: ignored, as RFC 9110 says
    return first, min(last, size - 1)


def _stream(video: FieldFile, first: int, length: int) -> Iterator[bytes]:
    with open_video(video) as file:
        file.seek(first)
        left = length
        while left > 0:
            block = file.read(min(BLOCK, left))
            if not block:
                return
            left -= len(block)
            yield block


def _size(video: FieldFile) -> int:
    return video.storage.size(video.name)


def ranged_video_response(request: HttpRequest, video: FieldFile) -> HttpResponse:
    """The video, whole (200) or the asked part (206), or 416 for a range past its end. A
    missing video raises ``FileNotFoundError``; a bucket that cannot be read
    ``StoredVideoUnreadable`` (the caller answers 404 / 503)."""
    try:
        size = _size(video)
    except FileNotFoundError:
        raise
    except OSError as exc:  # the storage failed, not a missing file
        raise StoredVideoUnreadable(str(exc)) from exc
    content_type = mimetypes.guess_type(video.name)[0] or "application/octet-stream"
    asked = parse_range(request.headers.get("Range", ""), size)
    if asked is False:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    else:
        first, last = asked if asked else (0, size - 1)
        length = last - first + 1 if size else 0
        if request.method == "HEAD":
            response = HttpResponse(status=206 if asked else 200, content_type=content_type)
        else:
            response = StreamingHttpResponse(
                _stream(video, first, length),
                status=206 if asked else 200,
                content_type=content_type,
            )
        response["Content-Length"] = str(length)
        if asked:
            response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Accept-Ranges"] = "bytes"
    patch_cache_control(response, private=True, no_store=True)
    return response


def draft_video_answer(request: HttpRequest, draft) -> HttpResponse:
    """The draft's kept video for a page that may show it (members, a review link covering
    it): 404 without one, 503 with a sentence when the storage cannot be read."""
    if not draft.video or draft.sent_post_id:
        raise Http404
    try:
        return ranged_video_response(request, draft.video)
    except FileNotFoundError:
        raise Http404 from None
    except StoredVideoUnreadable:
        logger.exception("The video of draft %s could not be read", draft.code)
        return HttpResponse(
            _("The video cannot be read right now."), status=503, content_type="text/plain"
        )
