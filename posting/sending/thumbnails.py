"""A post's thumbnail: the frame at its cover time, taken once from the kept video by a worker.

    post_create ──on commit──> thumbnail_enqueue(post_id)              the default cluster
        └─ make_thumbnail(post_id, attempt) → thumbnail_make: the kept video opened through
           the storage API (``stored_video``: a bucket's object streamed, never downloaded
           whole), the key frame before the cover time found, decoded up to that time, scaled
           to THUMBNAIL_HEIGHT px tall, turned upright, encoded as WebP and saved beside the
           video (``thumbnails/<year>/<month>/<32 hex digits>.webp``)

The default cluster, not the uploads one: a thumbnail takes well under a second of one core in
bounded memory (``tests/bench/bench_thumbnails.py``), far inside the default cluster's task
limit, while the uploads cluster's few workers may be held for many minutes each by large
forwards, so a thumbnail there would wait behind them and the history would show the
placeholder all that time.

A storage that fails (a bucket that does not answer, a read cut short) is tried again later,
THUMBNAIL_MAX_ATTEMPTS times in all; a video FFmpeg cannot read is not: a log line says why, and
the post keeps its placeholder. Nothing of the post's send depends on its thumbnail. The
thumbnail outlives the video (``cleanup`` deletes only videos: a few KiB, and the history needs
it) and is deleted with its post (``thumbnail_delete_with_post``).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from fractions import Fraction
from typing import IO

import av
import av.error
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from posting.models import Post
from posting.sending import stored_video

logger = logging.getLogger(__name__)

THUMBNAIL_TASK = "posting.tasks.make_thumbnail"
#: Height of the stored image in pixels (a smaller video keeps its own): twice the largest the
#: pages show it (the post page, 180 px tall), so it stays sharp on a high-density screen.
THUMBNAIL_HEIGHT = 360
#: libwebp's quality (0–100). At 202×360 a flat frame is a few hundred bytes and pure noise,
#: the worst case, 56 KiB.
THUMBNAIL_QUALITY = 80
THUMBNAIL_CONTENT_TYPE = "image/webp"
#: Anything larger in a thumbnail's place was not made here, and is not served.
THUMBNAIL_MAX_BYTES = 1024 * 1024
#: Tries when the storage fails, a minute apart and doubling.
THUMBNAIL_MAX_ATTEMPTS = 4
THUMBNAIL_RETRY_SECONDS = 60
#: At most this many frames are decoded after the seek (a video with a single key frame at its
#: start and 60 frames a second, sought to its 90th second): past it, the last one is taken.
MAX_DECODED_FRAMES = 6000


class BrokenVideo(Exception):
    """FFmpeg cannot give a frame of this video (not a video, no video track, corrupt)."""


def thumbnail_enqueue(post_id: int) -> None:
    """Queue the thumbnail of a post on the default cluster (its id only)."""
    async_task(THUMBNAIL_TASK, post_id, task_name=f"thumbnail post {post_id}", group="thumbnails")


def thumbnail_make(*, post_id: int, attempt: int = 1) -> str:
    """Make the post's thumbnail from its kept video, unless it has one or no video is kept.

    Says in words what happened (django-q keeps it as the task's result). A storage failure
    schedules another try; a video that cannot be read leaves the placeholder and a log line.
    Two runs at once (a redelivered task) save one thumbnail: the second's file is removed."""
    post = (
        Post.objects.filter(pk=post_id)
        .only("pk", "code", "video", "video_deleted_at", "cover_second", "thumbnail")
        .first()
    )
    if post is None:
        return "no such post"
    if post.thumbnail:
        return f"post {post.code} has a thumbnail already"
    if not post.video or post.video_deleted_at:
        return f"post {post.code} keeps no video"
    try:
        with stored_video.open_video(post.video) as source:
            image = frame_at(source, post.cover_second)
    except FileNotFoundError:
        logger.warning("Thumbnail of post %s: its video is no longer in storage", post.code)
        return f"post {post.code}: the video is gone"
    except BrokenVideo as exc:
        logger.warning(
            "Thumbnail of post %s: the video cannot be decoded (%s); the placeholder stays",
            post.code,
            exc,
        )
        return f"post {post.code}: broken video ({exc})"
    except Exception as exc:  # the storage's failure: a bucket's, a disk's
        return _try_again(post, attempt, exc)
    try:
        saved = _save(post, image)
    except Exception as exc:
        return _try_again(post, attempt, exc)
    if not saved:
        return f"post {post.code} got its thumbnail from another run"
    logger.info("Thumbnail of post %s: %d bytes", post.code, len(image))
    return f"post {post.code}: thumbnail of {len(image)} bytes"


def thumbnails_missing_enqueue() -> int:
    """Queue a thumbnail for every post that keeps its video and has none (posts received
    before thumbnails existed, or whose tries all failed). Returns how many."""
    missing = (
        Post.objects.filter(thumbnail="", video_deleted_at__isnull=True)
        .exclude(video="")
        .values_list("pk", flat=True)
    )
    count = 0
    for post_id in missing.iterator():
        thumbnail_enqueue(post_id)
        count += 1
    return count


def thumbnail_delete_with_post(sender, instance: Post, **kwargs) -> None:
    """``post_delete`` of a Post: its thumbnail file goes too, once the delete is committed (a
    rolled-back delete keeps its post, which still needs the file)."""
    if not instance.thumbnail:
        return
    storage, name = instance.thumbnail.storage, instance.thumbnail.name

    def delete() -> None:
        try:
            storage.delete(name)
        except Exception:  # a storage that fails leaves a small orphan, never a failed delete
            logger.exception("The thumbnail %s of a deleted post could not be deleted", name)

    transaction.on_commit(delete)


def thumbnail_read(post: Post) -> bytes:
    """The stored thumbnail's bytes (at most THUMBNAIL_MAX_BYTES: ours are a few KiB). Raises
    ``FileNotFoundError`` when it is not in storage, and the storage's own error when it fails.
    A bucket's object is read with one ``GetObject`` (``stored_video``), not a HEAD first."""
    with stored_video.open_video(post.thumbnail) as stored:
        image = stored.read(THUMBNAIL_MAX_BYTES + 1)
    if len(image) > THUMBNAIL_MAX_BYTES:
        raise ValueError(f"{post.thumbnail.name} is larger than a thumbnail can be")
    return image


def frame_at(source: IO[bytes], second: float, *, height: int = THUMBNAIL_HEIGHT) -> bytes:
    """The frame shown at ``second`` of the video in ``source`` (the last one when the video is
    shorter), at most ``height`` pixels tall, upright, as a WebP image.

    ``source`` is read as FFmpeg asks, a block at a time, with seeks: the index, the key frame
    before ``second`` and the frames from it on, never the whole file at once. Raises
    ``BrokenVideo`` when FFmpeg cannot read it, and whatever ``source`` raised when it failed:
    PyAV keeps a file object's exception and raises it from its next call, so a storage that
    fails midway is never taken for the end of the video."""
    try:
        frame = _decode_at(source, max(0.0, float(second)))
    except av.error.FFmpegError as exc:
        raise BrokenVideo(_ffmpeg_reason(exc)) from exc
    if frame is None:
        raise BrokenVideo("no frame could be decoded")
    return _encode(_upright(frame, height))


def _decode_at(source: IO[bytes], second: float) -> av.VideoFrame | None:
    with av.open(source, mode="r") as container:
        if not container.streams.video:
            raise BrokenVideo("the file has no video track")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame threads: one frame in flight per thread, no more
        stream.thread_count = 2
        time_base = stream.time_base or Fraction(1, 1_000_000)
        start = float(stream.start_time * time_base) if stream.start_time is not None else 0.0
        target = start + second
        try:
            container.seek(int(target / time_base), stream=stream, backward=True)
        except av.error.FFmpegError:
            # Some files cannot seek (no index): decode from the start instead.
            container.seek(0)
        shown = None
        for decoded, frame in enumerate(container.decode(stream)):
            # The frame on screen at `target` is the last one that starts at or before it, as
            # a browser shows on the compose page (half a tick's tolerance for rounding).
            if frame.time is not None and frame.time > target + float(time_base) / 2:
                if shown is None:
                    shown = frame  # the seek landed after it (a first frame that starts late)
                break
            shown = frame
            if decoded >= MAX_DECODED_FRAMES:
                break
        return shown


def _upright(frame: av.VideoFrame, height: int) -> av.VideoFrame:
    """``frame`` scaled to at most ``height`` px tall as shown (a phone's rotation flag
    applied), in the 4:2:0 BT.601 that WebP stores."""
    quarter_turn = frame.rotation in (90, -90, 270, -270)
    shown_w, shown_h = (frame.height, frame.width) if quarter_turn else (frame.width, frame.height)
    out_h = min(height, shown_h)
    out_w = max(2, round(shown_w * out_h / shown_h))
    out_h, out_w = out_h - out_h % 2, out_w - out_w % 2
    # Scaled before it is turned: turning the small frame costs nothing.
    width, height_ = (out_h, out_w) if quarter_turn else (out_w, out_h)
    small = frame.reformat(
        width=width,
        height=height_,
        format="yuv420p",
        dst_colorspace="itu601",
        dst_color_range="MPEG",
        interpolation="AREA",
    )
    # FFmpeg's own rotation: how many degrees the display matrix turns the frame
    # anticlockwise, so -90 is a quarter turn clockwise ("transpose=clock").
    turns = {
        -90: ("transpose", "clock"),
        270: ("transpose", "clock"),
        90: ("transpose", "cclock"),
        -270: ("transpose", "cclock"),
    }
    if frame.rotation in turns:
        return _filtered(small, [turns[frame.rotation]])
    if frame.rotation in (180, -180):
        return _filtered(small, [("hflip", None), ("vflip", None)])
    return small


def _filtered(frame: av.VideoFrame, filters: list[tuple[str, str | None]]) -> av.VideoFrame:
    graph = av.filter.Graph()
    nodes = [
        graph.add_buffer(
            width=frame.width, height=frame.height, format=frame.format, time_base=Fraction(1, 1)
        )
    ]
    nodes += [graph.add(name, args) for name, args in filters]
    nodes.append(graph.add("buffersink"))
    graph.link_nodes(*nodes).configure()
    frame.pts = 0
    graph.vpush(frame)
    return graph.vpull()


def _encode(frame: av.VideoFrame) -> bytes:
    encoder = av.CodecContext.create("libwebp", "w")
    encoder.width, encoder.height, encoder.pix_fmt = frame.width, frame.height, "yuv420p"
    encoder.time_base = Fraction(1, 1)
    encoder.options = {"quality": str(THUMBNAIL_QUALITY), "preset": "photo"}
    frame.pts = 0
    packets = encoder.encode(frame) + encoder.encode(None)
    return b"".join(bytes(packet) for packet in packets)


def _save(post: Post, image: bytes) -> bool:
    """Store ``image`` as the post's thumbnail, unless another run got there first (or the
    post was deleted meanwhile): then the file just stored is removed again."""
    field = post.thumbnail
    field.save(f"{uuid.uuid4().hex}.webp", ContentFile(image), save=False)
    if Post.objects.filter(pk=post.pk, thumbnail="").update(thumbnail=field.name):
        return True
    field.storage.delete(field.name)
    return False


def _try_again(post: Post, attempt: int, exc: Exception) -> str:
    if attempt >= THUMBNAIL_MAX_ATTEMPTS:
        logger.error(
            "Thumbnail of post %s: the storage failed %d times (%s); the placeholder stays",
            post.code,
            attempt,
            exc,
        )
        return f"post {post.code}: gave up after {attempt} tries ({exc})"
    when = timezone.now() + timedelta(seconds=THUMBNAIL_RETRY_SECONDS * 2 ** (attempt - 1))
    logger.warning(
        "Thumbnail of post %s: the storage failed (%s); try %d at %s",
        post.code,
        exc,
        attempt + 1,
        when.isoformat(timespec="seconds"),
    )
    # A one-off schedule on the default cluster (``cluster`` left empty), named per post and
    # try so a redelivered task does not schedule the same try twice.
    Schedule.objects.get_or_create(
        name=f"post {post.code} thumbnail try {attempt + 1}"[:100],
        defaults={
            "func": THUMBNAIL_TASK,
            "args": repr((post.pk, attempt + 1)),
            "schedule_type": Schedule.ONCE,
            "next_run": when,
            "repeats": -1,
        },
    )
    return f"post {post.code}: storage failed, try {attempt + 1} scheduled ({exc})"


def _ffmpeg_reason(exc: av.error.FFmpegError) -> str:
    # FFmpeg's sentence without its errno and the file name it does not know ('<none>').
    return getattr(exc, "strerror", None) or type(exc).__name__
