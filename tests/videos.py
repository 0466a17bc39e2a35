"""Real, tiny test videos made with PyAV (no ffmpeg binary needed), and non-video files.

`make_video` writes a genuine, decodable video: moving grey bands, so encoders have something to
encode, at a very low resolution and frame rate so a 95-second clip still takes well under a
second to write.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av

# Container name as PyAV knows it, and a codec its bundled FFmpeg can write in that container.
_CONTAINERS = {
    "mp4": ("mp4", "libx264"),
    "mov": ("mov", "libx264"),
    "mkv": ("matroska", "libx264"),
    "webm": ("webm", "libvpx"),
    "avi": ("avi", "mpeg4"),
}


def make_video(
    path: str | os.PathLike,
    *,
    width: int = 180,
    height: int = 320,
    seconds: float = 4.0,
    fps: int = 10,
    container: str = "mp4",
) -> Path:
    """Write a `seconds`-long video of `width`x`height` at `path` and return the path.

    yuv420p needs even dimensions, so odd ones are refused rather than silently changed.
    """
    if width % 2 or height % 2:
        raise ValueError(f"width and height must be even for yuv420p, not {width}x{height}")
    if container not in _CONTAINERS:
        raise ValueError(f"container must be one of {sorted(_CONTAINERS)}, not {container!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    format_name, codec = _CONTAINERS[container]
    frames = max(1, round(seconds * fps))
    # Not the stream's time base: the muxer replaces that once the header is written.
    frame_time_base = Fraction(1, fps)

    with av.open(str(path), mode="w", format=format_name) as output:
        stream = output.add_stream(codec, rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        # The fastest settings each encoder has: quality is irrelevant here. One thread: frames
        # this small gain nothing from more, and libvpx's threads crawl on a busy machine.
        stream.thread_count = 1
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        elif codec == "libvpx":
            stream.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        bands = None
        for index in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            luma, blue, red = frame.planes
            # Planes are padded to an aligned line size, which may exceed the width.
            bands = bands or _bands(luma.line_size, height)
            start = (index * _SHIFT % _PERIOD) * luma.line_size
            luma.update(bands[start : start + luma.line_size * height])
            blue.update(bytes([128]) * (blue.line_size * blue.height))
            red.update(bytes([128]) * (red.line_size * red.height))
            frame.pts = index
            frame.time_base = frame_time_base
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


_PERIOD = 64  # rows before the band pattern repeats
_SHIFT = 2  # rows the bands move each frame


def _bands(line_size: int, height: int) -> bytes:
    # Horizontal grey bands, _PERIOD rows taller than a frame: each frame is a slice of it, moved
    # _SHIFT rows on, so the video is not a still image and costs nothing to build.
    return b"".join(bytes([y * 4 % 256]) * line_size for y in range(height + _PERIOD))


def make_noise_file(path: str | os.PathLike, size_mb: float) -> Path:
    """Write a file of `size_mb` megabytes (MiB) that is not a video, quickly.

    The first kilobytes are random (so no probe mistakes it for a known format); the rest is a
    sparse hole, which costs neither time nor disk.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = int(size_mb * 1024 * 1024)
    with open(path, "wb") as fh:
        head = os.urandom(min(size, 64 * 1024))
        fh.write(head)
        if size > len(head):
            fh.truncate(size)
    return path
