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


def timed_luma(index: int) -> int:
    """The grey level of frame ``index`` of ``make_timed_video``: 6 levels a frame from 20, so
    neighbouring frames differ clearly and 36 frames stay within video range (16–235)."""
    return 20 + 6 * (index % 36)


def make_timed_video(
    path: str | os.PathLike,
    *,
    width: int = 180,
    height: int = 320,
    seconds: float = 3.0,
    fps: int = 10,
    keyframe_every: int | None = None,
    left_bright: bool = False,
    grain: int = 0,
) -> Path:
    """A video whose frames tell the time: frame ``i`` is grey at ``timed_luma(i)``, so a frame
    taken from it says which one it was. ``keyframe_every`` frames a key frame (the encoder's
    default, one every 250, when None). ``left_bright`` paints the left half white and the
    right half black instead (for telling which way a frame was turned). ``grain`` adds noise
    of up to that many levels either way, different in every frame and even on average, so
    the file is as large and as costly to decode as a camera's, and each frame's mean level
    still tells its index."""
    path = Path(path)
    noise = os.urandom(4 * 1024 * 1024) if grain else b""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.thread_count = 1
        options = {"preset": "ultrafast", "tune": "zerolatency"}
        if keyframe_every:
            options.update(g=str(keyframe_every), keyint_min=str(keyframe_every))
        stream.options = options
        for index in range(max(1, round(seconds * fps))):
            frame = av.VideoFrame(width, height, "yuv420p")
            luma, blue, red = frame.planes
            if left_bright:
                row = bytes([235]) * (width // 2) + bytes([16]) * (luma.line_size - width // 2)
                luma.update(row * height)
            elif grain:
                size = luma.line_size * height
                start = index * 7919 % max(1, len(noise) - size)
                plane = (noise * (1 + size // len(noise)))[start : start + size]
                luma.update(plane.translate(_grain_table(timed_luma(index), grain)))
            else:
                luma.update(bytes([timed_luma(index)]) * (luma.line_size * height))
            blue.update(bytes([128]) * (blue.line_size * blue.height))
            red.update(bytes([128]) * (red.line_size * red.height))
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


def _grain_table(level: int, grain: int) -> bytes:
    # Each random byte to `level` plus an offset spread evenly over -grain..grain.
    span = 2 * grain + 1
    return bytes(min(235, max(16, level - grain + value % span)) for value in range(256))


def turn_flag(path: str | os.PathLike, clockwise: int) -> Path:
    """Set the rotation flag a phone writes (the first track's display matrix, in place):
    shown turned ``clockwise`` degrees (90 or 270), its pixels unchanged."""
    path = Path(path)
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    # Version 0 header: version and flags, times, track id, reserved, duration, reserved,
    # layer, group, volume, reserved (40 bytes), then the 3×3 matrix in 16.16 / 2.30.
    assert at > 0 and data[at + 4] == 0, "a version-0 track header"
    one, w = 1 << 16, 1 << 30
    matrix = {90: (0, one, 0, -one, 0, 0, 0, 0, w), 270: (0, -one, 0, one, 0, 0, 0, 0, w)}
    data[at + 44 : at + 80] = b"".join(v.to_bytes(4, "big", signed=True) for v in matrix[clockwise])
    path.write_bytes(bytes(data))
    return path
