"""Memory of a large upload: TaislyClient.create_post against a naive requests upload.

    python -m tests.bench.bench_client_upload        (BENCH_UPLOAD_MB, default 200)

Starts a sandbox, writes a noise file of BENCH_UPLOAD_MB MiB, and uploads it twice, each time in
a fresh child process that reports how far its resident memory peaked above where it stood just
before the upload: once with the client (its multipart body, streamed from disk), once the naive
way (the file read into memory and handed to ``requests.post(files=...)``). Prints both and
writes bench-results/client_upload.json, with the machine's load average at the start and end.

"passed" (goal met) means: the client's resident peak rose less than 64 MiB above where it
stood before the upload, whatever the file's size (it streams the file; the naive upload's
growth, about the file's size, is printed for scale and is not part of the verdict). The floor
here is no growth at all; a missed goal is written as ``"passed": false``, not an error.

The noise file is not a video: the sandbox accepts the upload (the whole body is sent and read)
and later fails the post with VIDEO_UNREADABLE, which does not matter for memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file path: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.helpers import (
    ROOT,
    load_average,
    measure_peak_growth,
    setup_django,
    write_results,
)

LIMIT_MB = 64
KEY_ENV = "TAISLY_BENCH_API_KEY"  # the child gets the key through its environment, not argv


def upload_with_client(base_url: str, video: Path, platform_id: str) -> dict:
    from posting.taisly import TaislyClient

    client = TaislyClient(os.environ[KEY_ENV], base_url=base_url)
    sent = {"bytes": 0, "total": 0}

    def progress(bytes_sent: int, total: int) -> None:
        sent["bytes"], sent["total"] = bytes_sent, total

    post = client.create_post(video, platforms=[platform_id], on_progress=progress)
    return {"post_id": post.id, "bytes_sent": sent["bytes"], "body_bytes": sent["total"]}


def upload_naively(base_url: str, video: Path, platform_id: str) -> dict:
    import requests  # the comparison the client exists to beat; nothing else does this

    content = video.read_bytes()
    response = requests.post(
        f"{base_url}/post",
        headers={"Authorization": f"Bearer {os.environ[KEY_ENV]}"},
        data={"platforms": json.dumps([platform_id]), "description": "", "previewTime": "0"},
        files={"video": (video.name, content, "video/mp4")},
        timeout=(5, 300),
    )
    response.raise_for_status()
    return {"post_id": response.json()["historyId"], "bytes_sent": len(response.request.body)}


def child(mode: str, base_url: str, video: Path, platform_id: str) -> None:
    setup_django()
    upload = upload_with_client if mode == "client" else upload_naively
    # Import everything the upload uses before measuring, so only the upload itself counts.
    import requests  # noqa: F401

    import posting.taisly  # noqa: F401

    started = time.perf_counter()
    result, growth = measure_peak_growth(lambda: upload(base_url, video, platform_id))
    result.update(
        peak_rss_growth_mb=round(growth, 1), seconds=round(time.perf_counter() - started, 2)
    )
    print(json.dumps(result))


def run_child(mode: str, base_url: str, api_key: str, video: Path, platform_id: str) -> dict:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.bench.bench_client_upload",
            "--child",
            mode,
            "--base-url",
            base_url,
            "--video",
            str(video),
            "--platform",
            platform_id,
        ],
        cwd=ROOT,
        env={**os.environ, KEY_ENV: api_key},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"The {mode} upload failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> int:
    load_start = load_average()
    setup_django()
    from tests.sandbox_server import SandboxServer
    from tests.videos import make_noise_file

    file_mb = float(os.environ.get("BENCH_UPLOAD_MB", "200"))
    with (
        tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp,
        SandboxServer(Path(tmp) / "sandbox") as sandbox,
    ):
        account = sandbox.create_account(platforms=("TikTok",))
        platform_id = account["platforms"][0]["_id"]
        video = make_noise_file(Path(tmp) / "noise.mp4", file_mb)
        print(f"Uploading {file_mb:g} MiB to the sandbox at {sandbox.base_url}")

        client = run_child("client", sandbox.base_url, account["api_key"], video, platform_id)
        if client["bytes_sent"] != client["body_bytes"]:
            raise SystemExit(f"The client sent {client['bytes_sent']} of {client['body_bytes']}.")
        naive = run_child("naive", sandbox.base_url, account["api_key"], video, platform_id)

    # The client's growth is often a fraction of a MiB; count it as at least 1 so the ratio
    # stays a meaningful lower bound rather than a division by almost nothing.
    ratio = naive["peak_rss_growth_mb"] / max(client["peak_rss_growth_mb"], 1.0)
    passed = client["peak_rss_growth_mb"] < LIMIT_MB
    print(
        f"  client (streamed): peak RSS +{client['peak_rss_growth_mb']:7.1f} MiB "
        f"in {client['seconds']:.1f} s"
    )
    print(
        f"  naive (in memory): peak RSS +{naive['peak_rss_growth_mb']:7.1f} MiB "
        f"in {naive['seconds']:.1f} s"
    )
    print(
        f"  naive / client:    {ratio:.0f}x or more; limit for the client {LIMIT_MB} MiB: "
        f"{'ok' if passed else 'EXCEEDED'}"
    )
    path = write_results(
        "client_upload",
        {
            "file_mb": file_mb,
            "peak_rss_growth_mb": client["peak_rss_growth_mb"],
            "seconds": client["seconds"],
            "body_bytes": client["body_bytes"],
            "naive_peak_rss_growth_mb": naive["peak_rss_growth_mb"],
            "naive_seconds": naive["seconds"],
            "ratio": round(ratio, 1),  # naive growth / client growth (at least 1 MiB)
            "limit_mb": LIMIT_MB,
            "passed": passed,
        },
        load_start=load_start,
    )
    print(f"  written to {path.relative_to(ROOT)}")
    # A missed goal is a verdict (printed, "passed" in the JSON), not a failure to run.
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=("client", "naive"))
    parser.add_argument("--base-url")
    parser.add_argument("--video", type=Path)
    parser.add_argument("--platform")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.base_url, args.video, args.platform)
        sys.exit(0)
    sys.exit(main())
