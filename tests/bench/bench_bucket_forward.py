"""Memory of the uploads worker's forward from an S3-compatible bucket to Taisly.

    python -m tests.bench.bench_bucket_forward        (BENCH_BUCKET_MB, default 200)

Starts moto's S3 server and the sandbox (both over HTTP on loopback), puts a noise file of
BENCH_BUCKET_MB MiB in a bucket, and forwards it to the sandbox twice, each time in a fresh child
process (tests/storage/forward_memory.py) that reports how far its resident memory peaked above
where it stood just before, and the peak of Python's own allocations (tracemalloc): once as the
worker does (``posting.sending.stored_video``: the object's body streamed block by block), once
through django-storages' ``S3File`` (which downloads the object whole first) for scale. Prints
both and writes bench-results/bucket_forward.json, with the machine's load at the start and end.

"passed" (goal met) means: the streamed forward's resident peak rose less than 32 MiB, whatever
the file's size, and the sandbox received exactly the file's bytes (SHA-256). The floor is no
growth at all; the S3File figure is printed for scale and is not part of the verdict.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a file path: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.helpers import ROOT, load_average, setup_django, write_results

LIMIT_MB = 32


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def main() -> int:
    load_start = load_average()
    setup_django()
    from tests.s3_server import S3Server
    from tests.sandbox_server import SandboxServer
    from tests.storage import forward_memory
    from tests.videos import make_noise_file

    file_mb = float(os.environ.get("BENCH_BUCKET_MB", "200"))
    name = "posts/2026/01/" + "d" * 32 + ".mp4"
    with (
        tempfile.TemporaryDirectory(prefix="bench-bucket-") as tmp,
        S3Server(Path(tmp) / "s3") as s3,
        SandboxServer(Path(tmp) / "sandbox") as sandbox,
    ):
        bucket = s3.create_bucket()
        path = make_noise_file(Path(tmp) / "noise.mp4", file_mb)
        s3.client.upload_file(str(path), bucket, name)
        digest = _sha256(path)
        path.unlink()
        account = sandbox.create_account(platforms=("TikTok",))
        env = {
            **s3.env(bucket),
            "TAISLY_BASE_URL": sandbox.base_url,
            "FORWARD_PLATFORM": account["platforms"][0]["_id"],
        }
        print(f"Forwarding {file_mb:g} MiB from the bucket at {s3.endpoint_url} to the sandbox")
        streamed = forward_memory.run("stream", name, env=env, api_key=account["api_key"])
        exact = sandbox.state()["lastUpload"]["sha256"] == digest
        whole = forward_memory.run("s3file", name, env=env, api_key=account["api_key"])

    passed = streamed["peak_rss_growth_mb"] < LIMIT_MB and exact
    for label, figures in (("streamed (the worker)", streamed), ("through S3File", whole)):
        print(
            f"  {label:22} peak RSS +{figures['peak_rss_growth_mb']:7.1f} MiB, Python "
            f"allocations peak {figures['tracemalloc_peak_mb']:6.1f} MiB, "
            f"{figures['seconds']:.1f} s"
        )
    print(
        f"  exact bytes at the sandbox: {'yes' if exact else 'NO'}; limit for the worker "
        f"{LIMIT_MB} MiB: {'ok' if passed else 'EXCEEDED'}"
    )
    results = write_results(
        "bucket_forward",
        {
            "file_mb": file_mb,
            "peak_rss_growth_mb": streamed["peak_rss_growth_mb"],
            "tracemalloc_peak_mb": streamed["tracemalloc_peak_mb"],
            "seconds": streamed["seconds"],
            "exact_bytes": exact,
            "s3file_peak_rss_growth_mb": whole["peak_rss_growth_mb"],
            "s3file_tracemalloc_peak_mb": whole["tracemalloc_peak_mb"],
            "s3file_seconds": whole["seconds"],
            "limit_mb": LIMIT_MB,
            "passed": passed,
        },
        load_start=load_start,
    )
    print(f"  written to {results.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
