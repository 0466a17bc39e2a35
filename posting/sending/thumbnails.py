"""A post's (or a draft's) thumbnail: the frame at its cover time, taken once from the kept
video by a worker.

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
it) and is deleted with its post (``thumbnail_delete_with_row``).

A draft's thumbnail is made the same way (``draft_thumbnail_make``, task make_draft_thumbnail)
when it is saved with a video, and made again when its video or cover changes
(``posting.sending.drafts``: the old file is deleted, the new one queued). It goes with the
draft when the draft is deleted, and to the post when the draft is sent: same video, same cover
second, so the same frame, which the post's pages show at once instead of a placeholder.
Thumbnails, a post's or a draft's, are not counted in the workspace's kept-video storage
(``limits``): a few KiB each, never more than THUMBNAIL_MAX_BYTES.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
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

from posting.models import Draft, Post
from posting.sending import stored_video

logger = logging.getLogger(__name__)

THUMBNAIL_TASK = "posting.tasks.make_thumbnail"
DRAFT_THUMBNAIL_TASK = "posting.tasks.make_draft_thumbnail"
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


@dataclass(frozen=True)
class _Kind:
    """What differs between a post's thumbnail and a draft's: the model, the task, the word
    for the logs, and the field set once the row no longer keeps its video (a post's video
    deleted by retention, a draft sent: its video is the post's then)."""

    model: type[Post] | type[Draft]
    word: str
    task: str
    gone: str


_POST = _Kind(Post, "post", THUMBNAIL_TASK, "video_deleted_at")
_DRAFT = _Kind(Draft, "draft", DRAFT_THUMBNAIL_TASK, "sent_at")


def thumbnail_enqueue(post_id: int) -> None:
    """Queue the thumbnail of a post on the default cluster (its id only)."""
    async_task(THUMBNAIL_TASK, post_id, task_name=f"thumbnail post {post_id}", group="thumbnails")


def draft_thumbnail_enqueue(draft_id: int) -> None:
    """Queue the thumbnail of a draft on the default cluster (its id only)."""
    async_task(
        DRAFT_THUMBNAIL_TASK, draft_id, task_name=f"thumbnail draft {draft_id}", group="thumbnails"
    )


def thumbnail_make(*, post_id: int, attempt: int = 1) -> str:
    """Make the post's thumbnail from its kept video, unless it has one or no video is kept.

    Says in words what happened (django-q keeps it as the task's result). A storage failure
    schedules another try; a video that cannot be read leaves the placeholder and a log line.
    Two runs at once (a redelivered task) save one thumbnail: the second's file is removed."""
    return _make(_POST, post_id, attempt)


def draft_thumbnail_make(*, draft_id: int, attempt: int = 1) -> str:
    """As ``thumbnail_make``, for an open draft. A draft whose video or cover changed while the
    frame was being taken does not keep it: ``draft_update`` queued the right one."""
    return _make(_DRAFT, draft_id, attempt)


def _make(kind: _Kind, pk: int, attempt: int) -> str:
    row = (
        kind.model.objects.filter(pk=pk)
        .only("pk", "code", "video", "cover_second", "thumbnail", kind.gone)
        .first()
    )
    if row is None:
        return f"no such {kind.word}"
    label = f"{kind.word} {row.code}"
    if row.thumbnail:
        return f"{label} has a thumbnail already"
    if not row.video or getattr(row, kind.gone):
        return f"{label} keeps no video"
    try:
        with stored_video.open_video(row.video) as source:
            image = frame_at(source, row.cover_second)
    except FileNotFoundError:
        logger.warning("Thumbnail of %s: its video is no longer in storage", label)
        return f"{label}: the video is gone"
    except BrokenVideo as exc:
        logger.warning(
            "Thumbnail of %s: the video cannot be decoded (%s); the placeholder stays", label, exc
        )
        return f"{label}: broken video ({exc})"
    except Exception as exc:  # the storage's failure: a bucket's, a disk's
        return _try_again(kind, row, attempt, exc)
    try:
        saved = _save(row, image)
    except Exception as exc:
        return _try_again(kind, row, attempt, exc)
    if not saved:
        return f"{label} got its thumbnail from another run"
    logger.info("Thumbnail of %s: %d bytes", label, len(image))
    return f"{label}: thumbnail of {len(image)} bytes"


def thumbnails_missing_enqueue() -> int:
    """Queue a thumbnail for every post and open draft that keeps its video and has none (saved
    before thumbnails existed, or whose tries all failed). Returns how many."""
    count = 0
    for kind, enqueue in ((_POST, thumbnail_enqueue), (_DRAFT, draft_thumbnail_enqueue)):
        missing = (
            kind.model.objects.filter(thumbnail="", **{f"{kind.gone}__isnull": True})
            .exclude(video="")
            .values_list("pk", flat=True)
        )
        for pk in missing.iterator():
            enqueue(pk)
            count += 1
    return count


def thumbnail_delete_with_row(sender, instance: Post | Draft, **kwargs) -> None:
    """``post_delete`` of a Post or a Draft: its thumbnail file goes too, once the delete is
    committed (a rolled-back delete keeps its row, which still needs the file)."""
    if not instance.thumbnail:
        return
    storage, name = instance.thumbnail.storage, instance.thumbnail.name
    transaction.on_commit(lambda: _delete_quietly(storage, name))


def thumbnail_read(post: Post | Draft) -> bytes:
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


def _save(row: Post | Draft, image: bytes) -> bool:
    """Store ``image`` as the row's thumbnail, unless another run got there first, the row was
    deleted meanwhile, or its video or cover changed meanwhile (an edit, a draft saved again:
    the frame is no longer the one shown): then the file just stored is removed again."""
    field = row.thumbnail
    field.save(f"{uuid.uuid4().hex}.webp", ContentFile(image), save=False)
    unchanged = type(row).objects.filter(
        pk=row.pk, thumbnail="", video=row.video.name, cover_second=row.cover_second
    )
    if unchanged.update(thumbnail=field.name):
        return True
    field.storage.delete(field.name)
    return False


def _try_again(kind: _Kind, row: Post | Draft, attempt: int, exc: Exception) -> str:
    label = f"{kind.word} {row.code}"
    if attempt >= THUMBNAIL_MAX_ATTEMPTS:
        logger.error(
            "Thumbnail of %s: the storage failed %d times (%s); the placeholder stays",
            label,
            attempt,
            exc,
        )
        return f"{label}: gave up after {attempt} tries ({exc})"
    when = timezone.now() + timedelta(seconds=THUMBNAIL_RETRY_SECONDS * 2 ** (attempt - 1))
    logger.warning(
        "Thumbnail of %s: the storage failed (%s); try %d at %s",
        label,
        exc,
        attempt + 1,
        when.isoformat(timespec="seconds"),
    )
    # A one-off schedule on the default cluster (``cluster`` left empty), named per row and
    # try so a redelivered task does not schedule the same try twice.
    Schedule.objects.get_or_create(
        name=f"{label} thumbnail try {attempt + 1}"[:100],
        defaults={
            "func": kind.task,
            "args": repr((row.pk, attempt + 1)),
            "schedule_type": Schedule.ONCE,
            "next_run": when,
            "repeats": -1,
        },
    )
    return f"{label}: storage failed, try {attempt + 1} scheduled ({exc})"


def _ffmpeg_reason(exc: av.error.FFmpegError) -> str:
    # FFmpeg's sentence without its errno and the file name it does not know ('<none>').
    return getattr(exc, "strerror", None) or type(exc).__name__


# --- drafts ----------------------------------------------------------------------------------


def draft_thumbnail_refresh(draft: Draft, *, video: str, cover: float) -> None:
    """Inside the transaction that saves ``draft``, before its save: when its video (was
    ``video``) or cover second (was ``cover``) changed, its thumbnail is no longer the frame
    shown, so the field is emptied and the old file deleted once this commits; then a thumbnail
    is queued (a no-op for one that is still right, ``draft_thumbnail_make`` checks)."""
    stale = draft.thumbnail.name if draft.thumbnail else ""
    if stale and (draft.video.name != video or draft.cover_second != cover):
        draft.thumbnail = ""
        storage = draft.thumbnail.storage
        transaction.on_commit(lambda: _delete_quietly(storage, stale))
    if draft.video:
        transaction.on_commit(lambda pk=draft.pk: draft_thumbnail_enqueue(pk))


def draft_thumbnail_hand_over(draft: Draft, post: Post) -> bool:
    """Inside the transaction that sends ``draft`` as ``post``: the draft's thumbnail becomes
    the post's, as its video does, when the post shows the same frame (same file, same cover
    second); the caller empties the draft's field. False when there is none to hand over (it
    is still being made, and that run will not save it: the draft's video is gone), and the
    post's own is made as for any post."""
    if not draft.thumbnail:
        return False
    handed = Post.objects.filter(
        pk=post.pk, thumbnail="", video=draft.video.name, cover_second=draft.cover_second
    ).update(thumbnail=draft.thumbnail.name)
    if handed:
        post.thumbnail.name = draft.thumbnail.name
    else:
        storage, name = draft.thumbnail.storage, draft.thumbnail.name
        transaction.on_commit(lambda: _delete_quietly(storage, name))
    return bool(handed)


def _delete_quietly(storage, name: str) -> None:
    try:
        storage.delete(name)
    except Exception:  # a storage that fails leaves a small orphan, never a failed save/delete
        logger.exception("The thumbnail %s could not be deleted", name)
