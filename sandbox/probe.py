"""Checks an uploaded video the way Taisly's documented limits say, with pymediainfo.

The limits are the numbers from docs/taisly-api.md (at most 500 MB, 3 to 90 seconds, vertical
9:16), restated here on purpose: the sandbox shares numbers with the dashboard, never code.
"""

from __future__ import annotations

import logging
import os
import threading

from pymediainfo import MediaInfo

logger = logging.getLogger(__name__)

OK = "OK"
MIN_SECONDS = 3.0
MAX_SECONDS = 90.0
PORTRAIT_RATIO = 9 / 16
# Real phone exports are often a few pixels off 9:16 (e.g. 1080x1922 after a crop), so the width
# to height ratio may differ from 9/16 by up to 2% of itself.
RATIO_TOLERANCE = 0.02
DEFAULT_MAX_VIDEO_MB = 500

# pymediainfo warns that its library options are shared between threads; the server is threaded.
_lock = threading.Lock()


def max_video_bytes() -> int:
    """500 MB (MiB, 1024 * 1024 bytes) unless SANDBOX_MAX_VIDEO_MB lowers it (for tests)."""
    raw = os.environ.get("SANDBOX_MAX_VIDEO_MB", "").strip()
    megabytes = float(raw) if raw else DEFAULT_MAX_VIDEO_MB
    return int(megabytes * 1024 * 1024)


def probe_video(path: str, size: int) -> str:
    """Return OK or the VIDEO_* code Taisly would fail this file with."""
    if size > max_video_bytes():
        return "VIDEO_TOO_LARGE"
    try:
        with _lock:
            info = MediaInfo.parse(path, parse_speed=0)
    except (OSError, RuntimeError, ValueError):
        logger.warning("mediainfo could not parse the upload", exc_info=True)
        return "VIDEO_UNREADABLE"
    if not info.video_tracks:
        return "VIDEO_UNREADABLE"
    video = info.video_tracks[0]
    general = info.general_tracks[0] if info.general_tracks else None
    duration_ms = _number(video.duration) or (general and _number(general.duration))
    width, height = _number(video.width), _number(video.height)
    if not duration_ms or not width or not height:
        return "VIDEO_UNREADABLE"

    seconds = duration_ms / 1000
    if seconds < MIN_SECONDS:
        return "VIDEO_TOO_SHORT"
    if seconds > MAX_SECONDS:
        return "VIDEO_TOO_LONG"

    # A phone often stores portrait video as landscape pixels plus a 90-degree rotation flag.
    if round(_number(video.rotation) or 0) % 180 == 90:
        width, height = height, width
    ratio = width * (_number(video.pixel_aspect_ratio) or 1.0) / height
    if abs(ratio / PORTRAIT_RATIO - 1) > RATIO_TOLERANCE:
        return "VIDEO_NOT_VERTICAL"
    return OK


def _number(value) -> float | None:
    # pymediainfo gives ints for some containers and strings such as "4000.000000" for others.
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# The last upload probed, for GET /control/state: lets a test check the temp file is gone.
# Replaced whole (never updated in place), so a request thread never reads a half-written one.
_last_upload: dict = {}


def remember_upload(*, path: str, size: int, code: str, sha256: str = "") -> None:
    global _last_upload
    _last_upload = {"path": path, "size": size, "code": code, "sha256": sha256}


def last_upload() -> dict:
    upload = dict(_last_upload)
    if upload:
        upload["exists"] = os.path.exists(upload["path"])
    return upload
