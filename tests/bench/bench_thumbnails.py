"""Cost of a post's thumbnail, per video: time and peak memory of the default worker's
``posting.sending.thumbnails.thumbnail_make`` for a few sizes and lengths, from local disk and
from an S3-compatible bucket.

    python -m tests.bench.bench_thumbnails
        BENCH_THUMBNAIL_VIDEOS   WIDTHxHEIGHTxSECONDS[xKEYFRAME_SECONDS], comma-separated;
                                 default "720x1280x15x2,1080x1920x30x2,1080x1920x90x0"
                                 (0: x264's default, a key frame every 250 frames)
        BENCH_THUMBNAIL_DATABASE_URL   default a local PostgreSQL database
                                 ``taisly_bench_thumbnails``, dropped and made anew

Each video is made with PyAV (tests/videos.py, ``make_timed_video``): 30 frames a second,
each grey at a level that tells its index, with grain, so it is as costly to decode as a
camera's and the thumbnail still says which frame it was taken from. Its cover time is the
last frame before a key frame near the end (for the 90 s one, x264's default spacing: up to
249 frames to decode after the seek), the most work a cover time can ask for. A post of it is
made on the bench's own PostgreSQL database under production settings (``DJANGO_ENV=
production``), its video saved through the storage API: to MEDIA_ROOT, then to a bucket on
moto's S3 server over HTTP on loopback. Then, each in a fresh child process (so nothing
earlier counts), ``thumbnail_make`` runs as the worker runs it: the video opened through the
storage, the frame found and decoded, scaled, turned, encoded as WebP, saved beside the video.

Reported per video and storage: ``seconds``, ``peak_rss_growth_mb`` (resident memory's peak
above where it stood just before), ``tracemalloc_peak_mb`` (Python's own allocations),
``thumbnail_bytes``, ``bytes_read`` (of the video, through the storage), ``right_frame`` (its
grey level is the cover frame's), and the floor: ``floor_seconds``, the same child's time to
only seek and decode the frames up to the cover time from a local file (nothing read through
the storage, scaled, encoded or saved), and ``ratio`` = seconds / floor. Prints a table and
writes bench-results/thumbnails.json, with the machine's load at the start and end.

"passed" (goal met) means: every thumbnail is the frame at its cover time; each took at most
``GOAL_SECONDS`` (the default cluster's task limit is 120 s); each one's resident peak rose
less than ``GOAL_RSS_MB``, however long the video (it is read as FFmpeg asks, never whole).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

if __package__ in (None, ""):  # run as a file path: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.helpers import (
    ROOT,
    ensure_database,
    load_average,
    measure_peak_growth,
    production_env,
    setup_django,
    write_results,
)

DEFAULT_VIDEOS = "720x1280x15x2,1080x1920x30x2,1080x1920x90x0"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/taisly_bench_thumbnails"
FPS = 30
GRAIN = 4
X264_KEYINT = 250
GOAL_SECONDS = 10.0
GOAL_RSS_MB = 128


def _videos() -> list[tuple[int, int, float, float]]:
    specs = []
    for spec in os.environ.get("BENCH_THUMBNAIL_VIDEOS", DEFAULT_VIDEOS).split(","):
        parts = [float(p) for p in spec.strip().split("x")]
        width, height, seconds = int(parts[0]), int(parts[1]), parts[2]
        keyframe = parts[3] if len(parts) > 3 else 2.0
        specs.append((width, height, seconds, keyframe))
    return specs


def _cover(seconds: float, keyframe: float) -> tuple[float, int]:
    """The cover time (and its frame's index) just before the last key frame before the end."""
    every = round(keyframe * FPS) if keyframe else X264_KEYINT
    frames = round(seconds * FPS)
    last_key = (frames - 1) // every * every
    index = last_key - 1 if last_key > 0 else frames - 1
    return (index + 0.5) / FPS, index


def main() -> int:
    load_start = load_average()
    url = os.environ.get("BENCH_THUMBNAIL_DATABASE_URL", DEFAULT_DB)
    with tempfile.TemporaryDirectory(prefix="bench-thumbnails-") as tmp:
        return _run(Path(tmp), url, load_start)


def _run(workdir: Path, url: str, load_start: list[float]) -> int:
    from tests.s3_server import S3Server
    from tests.videos import make_timed_video

    env = production_env(workdir, url, MEDIA_ROOT=str(workdir / "media"))
    ensure_database(url, fresh=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    rows = []
    with S3Server(workdir / "s3") as s3:
        bucket_env = {**env, **s3.env(s3.create_bucket())}
        for width, height, seconds, keyframe in _videos():
            label = f"{width}x{height}, {seconds:g} s"
            print(f"Making {label} ({'x264 default' if not keyframe else f'{keyframe:g} s'} GOP)")
            path = make_timed_video(
                workdir / f"{width}x{height}x{seconds:g}.mp4",
                width=width,
                height=height,
                seconds=seconds,
                fps=FPS,
                grain=GRAIN,
                keyframe_every=round(keyframe * FPS) if keyframe else None,
            )
            cover, index = _cover(seconds, keyframe)
            for storage, storage_env in (("disk", env), ("bucket", bucket_env)):
                figures = _child(
                    ["measure", str(path), str(cover), str(index)], storage_env, timeout=900
                )
                figures.update(
                    video=label,
                    storage=storage,
                    video_mb=round(path.stat().st_size / 1024 / 1024, 1),
                    cover_second=round(cover, 3),
                )
                rows.append(figures)
                print(
                    f"  {storage:6} {figures['seconds']:6.2f} s (floor "
                    f"{figures['floor_seconds']:5.2f} s, ×{figures['ratio']:.2f}), peak RSS "
                    f"+{figures['peak_rss_growth_mb']:5.1f} MiB, Python "
                    f"{figures['tracemalloc_peak_mb']:4.1f} MiB, read "
                    f"{figures['bytes_read'] / 1024 / 1024:6.1f} of {figures['video_mb']} MiB, "
                    f"{figures['thumbnail_bytes']} B, right frame: "
                    f"{'yes' if figures['right_frame'] else 'NO'}"
                )
            path.unlink()

    missed = []
    if not all(r["right_frame"] for r in rows):
        missed.append("a thumbnail is not the frame at its cover time")
    if max(r["seconds"] for r in rows) > GOAL_SECONDS:
        missed.append(f"a thumbnail took more than {GOAL_SECONDS:g} s")
    if max(r["peak_rss_growth_mb"] for r in rows) >= GOAL_RSS_MB:
        missed.append(f"a thumbnail's resident peak rose {GOAL_RSS_MB} MiB or more")
    passed = not missed
    print("  goal " + ("met" if passed else "MISSED: " + "; ".join(missed)))
    results = write_results(
        "thumbnails",
        {
            "videos": rows,
            "seconds_max": max(r["seconds"] for r in rows),
            "ratio_max": max(r["ratio"] for r in rows),
            "peak_rss_growth_mb_max": max(r["peak_rss_growth_mb"] for r in rows),
            "thumbnail_bytes_max": max(r["thumbnail_bytes"] for r in rows),
            "fps": FPS,
            "goal_seconds": GOAL_SECONDS,
            "goal_rss_mb": GOAL_RSS_MB,
            "goals_missed": missed,
            "passed": passed,
        },
        load_start=load_start,
    )
    print(f"  written to {results.relative_to(ROOT)}")
    return 0


def _child(args: list[str], env: dict[str, str], *, timeout: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.bench_thumbnails", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the child: one thumbnail, measured -------------------------------------------------------


def measure(path: str, cover: float, index: int) -> dict:
    """In a fresh process under the bench's settings: a post of the video at ``path`` (saved
    through the storage), its thumbnail made as the worker makes it, measured."""
    setup_django()
    import av
    from django.core.files import File

    from accounts.models import Workspace
    from posting.models import Post
    from posting.sending import stored_video, thumbnails
    from tests.videos import timed_luma

    workspace = Workspace.objects.create(name="Bench thumbnails")
    post = Post.objects.create(workspace=workspace, cover_second=cover, state=Post.State.SENT)
    with open(path, "rb") as fh:
        post.video.save("bench.mp4", File(fh), save=True)

    read = {"bytes": 0}
    real_open = stored_video.open_video

    @contextmanager
    def counted(video):
        with real_open(video) as opened:
            yield _Counting(opened, read)

    stored_video.open_video = counted
    # Warm up on a tiny video: FFmpeg's codecs, swscale, libwebp, the storage's client.
    warm = Post.objects.create(workspace=workspace, cover_second=0.1, state=Post.State.SENT)
    warm.video.save("warm.mp4", File(io.BytesIO(_tiny_video())), save=True)
    thumbnails.thumbnail_make(post_id=warm.pk)
    read["bytes"] = 0

    started = time.perf_counter()
    tracemalloc.start()
    outcome, growth = measure_peak_growth(lambda: thumbnails.thumbnail_make(post_id=post.pk))
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    seconds = time.perf_counter() - started
    post.refresh_from_db()
    assert post.thumbnail, outcome
    with post.thumbnail.open("rb") as fh:
        image = fh.read()
    with av.open(io.BytesIO(image)) as container:
        frame = next(container.decode(video=0))
    plane, data = frame.planes[0], bytes(frame.planes[0])
    luma = sum(
        sum(data[y * plane.line_size : y * plane.line_size + frame.width])
        for y in range(frame.height)
    ) / (frame.width * frame.height)

    # The floor: seek and decode the frames up to the cover time, from the local file.
    floor_started = time.perf_counter()
    with open(path, "rb") as fh:
        thumbnails._decode_at(fh, cover)
    floor = time.perf_counter() - floor_started
    return {
        "seconds": round(seconds, 3),
        "floor_seconds": round(floor, 3),
        "ratio": round(seconds / floor, 2) if floor else None,
        "peak_rss_growth_mb": round(growth, 1),
        "tracemalloc_peak_mb": round(traced_peak / 1024 / 1024, 1),
        "thumbnail_bytes": len(image),
        "thumbnail_size": f"{frame.width}x{frame.height}",
        "bytes_read": read["bytes"],
        "right_frame": abs(luma - timed_luma(index)) < 2.5,
        "outcome": outcome,
    }


class _Counting(io.RawIOBase):
    def __init__(self, source, read: dict) -> None:
        super().__init__()
        self._source, self._read = source, read

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        self._read["bytes"] += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._source.seek(offset, whence)

    def tell(self) -> int:
        return self._source.tell()


def _tiny_video() -> bytes:
    from tests.videos import make_timed_video

    with tempfile.TemporaryDirectory() as tmp:
        return make_timed_video(Path(tmp) / "warm.mp4", seconds=0.5).read_bytes()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "measure":
        print(json.dumps(measure(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))))
    else:
        sys.exit(main())
