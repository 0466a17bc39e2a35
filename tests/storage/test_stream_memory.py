"""The uploads worker forwards a kept video from the bucket in constant memory: a 64 MiB object
streamed from moto's S3 server to the sandbox, both over HTTP, in a process of its own
(tests/storage/forward_memory.py), grows that process's resident peak by a few MiB, not by the
file; the same forward through django-storages' S3File (the storage's own file object, which
downloads the object whole first) grows it by the file's size, which shows the measurement
sees a buffered file when there is one. ``make bench`` runs it at 200 MiB
(tests/bench/bench_bucket_forward.py)."""

from __future__ import annotations

import hashlib

from tests.storage import forward_memory
from tests.videos import make_noise_file

FILE_MB = 64
#: The bound on the streamed forward's resident growth: a quarter of the file, and far above
#: what streaming needs (two 1 MiB blocks and the sockets' buffers).
LIMIT_MB = 16


def test_the_worker_streams_a_kept_video_from_the_bucket_in_constant_memory(
    s3_server, sandbox, tmp_path
):
    bucket = s3_server.create_bucket()
    name = "posts/2026/01/" + "c" * 32 + ".mp4"
    path = make_noise_file(tmp_path / "big.mp4", FILE_MB)
    s3_server.client.upload_file(str(path), bucket, name)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    account = sandbox.create_account(platforms=("TikTok",))
    env = {
        **s3_server.env(bucket),
        "TAISLY_BASE_URL": sandbox.base_url,
        "FORWARD_PLATFORM": account["platforms"][0]["_id"],
    }

    streamed = forward_memory.run("stream", name, env=env, api_key=account["api_key"])
    print("streamed:", streamed)
    assert streamed["file_bytes"] == FILE_MB * 1024 * 1024
    assert streamed["bytes_sent"] == streamed["body_bytes"] > streamed["file_bytes"]
    assert sandbox.state()["lastUpload"]["sha256"] == digest  # the exact bytes arrived
    assert streamed["peak_rss_growth_mb"] < LIMIT_MB
    assert streamed["tracemalloc_peak_mb"] < LIMIT_MB / 4

    whole = forward_memory.run("s3file", name, env=env, api_key=account["api_key"])
    print("through S3File:", whole)
    assert sandbox.state()["lastUpload"]["sha256"] == digest
    assert whole["peak_rss_growth_mb"] > FILE_MB * 0.9


def test_the_web_saves_an_upload_to_the_bucket_from_its_temp_file_in_bounded_memory(
    s3_server, tmp_path
):
    """boto3's upload from a file object (django-storages' own save) holds up to ten 8 MiB
    parts in memory; from the temp file's path it reads each part as it is sent."""
    bucket = s3_server.create_bucket()
    size_mb = 128
    path = make_noise_file(tmp_path / "upload.mp4", size_mb)
    name = "posts/2026/01/" + "e" * 32 + ".mp4"
    env = {**s3_server.env(bucket), "SAVE_PATH": str(path)}

    saved = forward_memory.run("save", name, env=env)
    print("saved:", saved)
    assert saved["name"] == name and saved["file_bytes"] == size_mb * 1024 * 1024
    assert s3_server.client.head_object(Bucket=bucket, Key=name)["ContentType"] == "video/mp4"
    assert saved["peak_rss_growth_mb"] < 48
