"""The uploads worker's forward of a kept video from the bucket, measured in a process of its own.

    python -m tests.storage.forward_memory stream NAME    as the worker does (stored_video)
    python -m tests.storage.forward_memory s3file NAME    through django-storages' S3File, as
                                                          the worker did before (for scale)
    python -m tests.storage.forward_memory save NAME      the web's side: an upload's temp file
                                                          (SAVE_PATH) saved to the bucket

The environment says where: STORAGE_S3_* the bucket (NAME is the object's key), TAISLY_BASE_URL
the Taisly to send to, FORWARD_API_KEY its key (never on the command line) and FORWARD_PLATFORM
the platform id. Everything the forward uses is imported and the bucket's client made before
measuring, so only the forward itself counts. Prints one JSON line: the bytes sent, the resident
memory's peak growth above where it stood just before (MiB), the peak of Python's own
allocations during the forward (tracemalloc, MiB) and the seconds it took.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from contextlib import AbstractContextManager

from tests.bench.helpers import ROOT, measure_peak_growth, setup_django


def run(mode: str, name: str, *, env: dict[str, str], api_key: str = "") -> dict:
    """Run the measurement in a fresh process and return its figures."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.storage.forward_memory", mode, name],
        cwd=ROOT,
        env={**os.environ, **env, "FORWARD_API_KEY": api_key},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(mode: str, name: str) -> dict:
    setup_django()
    from django.core.files.storage import default_storage

    from posting.models import Post
    from posting.sending import stored_video
    from posting.taisly import TaislyClient

    video = Post(video=name).video

    def opened() -> AbstractContextManager:
        return stored_video.open_video(video) if mode == "stream" else video.open("rb")

    # Warm up: the boto3 client, its service model and the first request's machinery.
    assert default_storage.exists(name)
    with stored_video.open_video(video) as warm:
        warm.read(1)
    client = TaislyClient(os.environ["FORWARD_API_KEY"])
    sent = {"bytes": 0, "total": 0}

    def progress(bytes_sent: int, total: int) -> None:
        sent["bytes"], sent["total"] = bytes_sent, total

    def forward() -> str:
        with opened() as fileobj:
            return client.create_post(
                fileobj, platforms=[os.environ["FORWARD_PLATFORM"]], on_progress=progress
            ).id

    started = time.perf_counter()
    tracemalloc.start()
    post_id, growth = measure_peak_growth(forward)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "mode": mode,
        "post_id": post_id,
        "file_bytes": default_storage.size(name),
        "bytes_sent": sent["bytes"],
        "body_bytes": sent["total"],
        "peak_rss_growth_mb": round(growth, 1),
        "tracemalloc_peak_mb": round(traced_peak / 1024 / 1024, 1),
        "seconds": round(time.perf_counter() - started, 2),
    }


def save(name: str, path: str) -> dict:
    """What the web process does with a received upload: its temp file saved to the bucket."""
    setup_django()
    import shutil

    from django.core.files.storage import default_storage
    from django.core.files.uploadedfile import TemporaryUploadedFile

    assert not default_storage.exists(name)  # warm up: the client and its service model
    upload = TemporaryUploadedFile("upload.mp4", "video/mp4", 0, None)
    with open(path, "rb") as source:
        shutil.copyfileobj(source, upload.file)
    upload.size = upload.file.tell()
    started = time.perf_counter()
    saved, growth = measure_peak_growth(lambda: default_storage.save(name, upload))
    upload.close()
    return {
        "mode": "save",
        "name": saved,
        "file_bytes": default_storage.size(saved),
        "peak_rss_growth_mb": round(growth, 1),
        "seconds": round(time.perf_counter() - started, 2),
    }


if __name__ == "__main__":
    if sys.argv[1] == "save":
        print(json.dumps(save(sys.argv[2], os.environ["SAVE_PATH"])))
    else:
        print(json.dumps(main(sys.argv[1], sys.argv[2])))
