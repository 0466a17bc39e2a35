"""What an uploaded video is, and whether Taisly will take it.

    temp file ──MediaInfo.parse(parse_speed=0)──> VideoFacts ──check_video──> ok
                         └─ not a video, truncated, wrong shape ──> VideoRejected(sentence)

The limits are Taisly's documented numbers (taisly-api.md): at most 500 MB, 3 to 90 seconds,
vertical 9:16, a common container. compose.js checks the same numbers in the browser before any
byte is sent (the page hands them over in data attributes); this is the check that cannot be
bypassed. ``parse_speed=0`` reads only the headers, so a 500 MB file probes in milliseconds.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from pymediainfo import MediaInfo

from posting.models import VIDEO_MAX_SECONDS
from posting.sending.forms import description_too_long_sentence

logger = logging.getLogger(__name__)

MIN_SECONDS = 3.0
MAX_SECONDS = VIDEO_MAX_SECONDS
PORTRAIT_RATIO = 9 / 16
# Phone exports are often a few pixels off 9:16 (1080x1922 after a crop): 2 % either way.
RATIO_TOLERANCE = 0.02
MB = 1024 * 1024

#: The extensions the Agent Kit accepts, and the container each must really be (MediaInfo's
#: general ``format``). A WebM file is a Matroska file, so .mkv may hold either.
CONTAINERS: dict[str, frozenset[str]] = {
    ".mp4": frozenset({"MPEG-4"}),
    ".mov": frozenset({"MPEG-4", "QuickTime"}),
    ".mkv": frozenset({"Matroska", "WebM"}),
    ".webm": frozenset({"WebM"}),
    ".avi": frozenset({"AVI"}),
    ".flv": frozenset({"Flash Video"}),
    ".mpeg": frozenset({"MPEG-PS"}),
    ".mpg": frozenset({"MPEG-PS"}),
}
#: A readable name per container, for sentences.
CONTAINER_NAMES = {
    "MPEG-4": "MP4",
    "QuickTime": "MOV",
    "Matroska": "MKV",
    "WebM": "WebM",
    "AVI": "AVI",
    "Flash Video": "FLV",
    "MPEG-PS": "MPEG",
}

# pymediainfo's library options are process-wide; the web server is threaded.
_lock = threading.Lock()


def max_video_bytes() -> int:
    """``POST_VIDEO_MAX_MB`` (default 500) in bytes."""
    return int(settings.POST_VIDEO_MAX_MB * MB)


def max_video_mb_label() -> str:
    mb = settings.POST_VIDEO_MAX_MB
    return f"{mb:g}"


class VideoRejected(Exception):
    """The file is not a video Taisly would take; ``message`` says why, for the person."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class VideoFacts:
    container: str
    width: int
    height: int
    duration: float
    size: int

    @property
    def orientation(self) -> str:
        if self.width > self.height:
            return _("landscape")
        if self.width < self.height:
            return _("portrait")
        return _("square")

    def describe(self) -> str:
        """``1920×1080, landscape``."""
        return f"{self.width}×{self.height}, {self.orientation}"


def probe_video(path: str | Path, *, name: str, size: int) -> VideoFacts:
    """Read ``path`` (uploaded as ``name``) and check it; raises ``VideoRejected``."""
    if size > max_video_bytes():
        raise VideoRejected(too_large_sentence(size), code="too_large")
    extension = Path(name).suffix.lower()
    if extension not in CONTAINERS:
        raise VideoRejected(extension_sentence(name), code="extension")
    try:
        with _lock:
            info = MediaInfo.parse(str(path), parse_speed=0)
    except (OSError, RuntimeError, ValueError):
        logger.warning("mediainfo could not parse an upload", exc_info=True)
        raise VideoRejected(_unreadable_sentence(name), code="unreadable") from None

    general = info.general_tracks[0] if info.general_tracks else None
    if general is not None and str(getattr(general, "istruncated", "") or "").lower() == "yes":
        raise VideoRejected(
            _(
                "“%(name)s” is cut short: the file ends before the video does. Upload the whole "
                "file again, or export it again."
            )
            % {"name": name},
            code="truncated",
        )
    if not info.video_tracks or general is None:
        raise VideoRejected(_unreadable_sentence(name), code="not_video")
    container = str(general.format or "")
    if container not in CONTAINER_NAMES:
        raise VideoRejected(
            _(
                "“%(name)s” is a video in a container Taisly does not take (%(container)s). "
                "Export it as MP4."
            )
            % {"name": name, "container": container or _("unknown")},
            code="container",
        )
    if container not in CONTAINERS[extension]:
        raise VideoRejected(
            _(
                "“%(name)s” is named like a %(claimed)s file but is really %(actual)s. Rename it "
                "to match or export it again as %(claimed)s."
            )
            % {
                "name": name,
                "claimed": extension.lstrip(".").upper(),
                "actual": CONTAINER_NAMES[container],
            },
            code="extension_mismatch",
        )

    video = info.video_tracks[0]
    duration_ms = _number(video.duration) or _number(general.duration)
    width, height = _number(video.width), _number(video.height)
    if not duration_ms or not width or not height:
        raise VideoRejected(_unreadable_sentence(name), code="unreadable")
    # A phone often stores portrait video as landscape pixels plus a 90° rotation flag.
    if round(_number(video.rotation) or 0) % 180 == 90:
        width, height = height, width
    # Anamorphic video: the shape on screen is the pixels times the pixel aspect ratio.
    display_width = width * (_number(video.pixel_aspect_ratio) or 1.0)
    facts = VideoFacts(
        container=CONTAINER_NAMES[container],
        width=round(display_width),
        height=int(height),
        duration=duration_ms / 1000,
        size=size,
    )
    check_video(facts)
    return facts


def check_video(facts: VideoFacts) -> None:
    """Taisly's duration and shape rules; raises ``VideoRejected``."""
    if facts.duration < MIN_SECONDS:
        raise VideoRejected(
            too_short_sentence(f"{facts.duration:.1f}"),
            code="too_short",
        )
    if facts.duration > MAX_SECONDS:
        raise VideoRejected(
            too_long_sentence(f"{facts.duration:.1f}"),
            code="too_long",
        )
    ratio = facts.width / facts.height
    if abs(ratio / PORTRAIT_RATIO - 1) > RATIO_TOLERANCE:
        raise VideoRejected(
            not_vertical_sentence(facts.describe()),
            code="not_vertical",
        )


# The sentences compose.js shows too: the page hands them over with {placeholders} in place of
# the values (browser_messages), so both sides say the same thing in the same language.


def too_large_sentence(size: int | str | None = None, limit: str | None = None) -> str:
    if size:
        return _("The file is %(size)s MB; Taisly takes videos up to %(limit)s MB.") % {
            "size": size if isinstance(size, str) else f"{size / MB:.0f}",
            "limit": limit or max_video_mb_label(),
        }
    return _("The file is larger than %(limit)s MB, the most Taisly takes.") % {
        "limit": max_video_mb_label()
    }


def extension_sentence(name: str) -> str:
    return _(
        "“%(name)s” is not a video file Taisly takes. Use MP4, MOV, MKV, WebM, AVI, FLV or MPEG."
    ) % {"name": name}


def too_short_sentence(seconds: str) -> str:
    return _("The video is %(seconds)s seconds long; Taisly needs at least 3 seconds.") % {
        "seconds": seconds
    }


def too_long_sentence(seconds: str) -> str:
    return _("The video is %(seconds)s seconds long; Taisly takes at most 90 seconds.") % {
        "seconds": seconds
    }


def not_vertical_sentence(what: str) -> str:
    return _("The video is %(what)s; Taisly needs a vertical 9:16 video (such as 1080×1920).") % {
        "what": what
    }


def browser_messages() -> dict[str, str]:
    """The sentences compose.js needs, with ``{name}`` placeholders for its own values."""

    return {
        "too-large": too_large_sentence("{size}", "{limit}"),
        "extension": extension_sentence("{name}"),
        "too-short": too_short_sentence("{seconds}"),
        "too-long": too_long_sentence("{seconds}"),
        "not-vertical": not_vertical_sentence("{what}"),
        "landscape": _("landscape"),
        "portrait": _("portrait"),
        "square": _("square"),
        "facts": _("This file: %(what)s, %(seconds)s seconds, %(size)s MB.")
        % {"what": "{what}", "seconds": "{seconds}", "size": "{size}"},
        "no-preview": _(
            "This browser cannot preview the file, so it cannot be checked here; the server "
            "checks it when you upload."
        ),
        "counter": _("%(network)s: %(count)s / %(limit)s characters")
        % {"network": "{network}", "count": "{count}", "limit": "{limit}"},
        "counter-over": description_too_long_sentence("{network}", "{limit}", "{count}"),
        "upload-failed": _(
            "The upload did not reach the dashboard. Check the connection and try again."
        ),
    }


def _unreadable_sentence(name: str) -> str:
    return _("“%(name)s” is not a video that can be read. Choose a video file.") % {"name": name}


def _number(value) -> float | None:
    # pymediainfo gives ints for some containers and strings such as "4000.000000" for others.
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def cover_within(second: float, duration: float) -> float:
    """The cover time kept for a video of ``duration`` seconds: ``second`` itself, or, past the
    video's end, its last frame (a tenth of a second before the end, so that Taisly's preview
    and the thumbnail both find a frame). The person is told (``cover_moved_sentence``)."""
    if second <= duration:
        return second
    return max(0.0, math.floor(duration * 10) / 10 - 0.1)


def cover_moved_sentence(asked: float, used: float, duration: float) -> str:
    return _(
        "The cover time you chose (%(asked)s s) is past the end of the video (%(duration)s s), "
        "so the video's last frame (%(used)s s) is the cover. Edit it if you want another."
    ) % {
        "asked": number_format(asked, decimal_pos=1),
        "duration": number_format(duration, decimal_pos=1),
        "used": number_format(used, decimal_pos=1),
    }
