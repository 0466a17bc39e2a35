"""The physical floor of an upload: an HTTP receiver that writes the request body to a file and
does nothing else (no framework, no multipart parsing). Used by tests/bench/bench_upload.py.

    python -m tests.bench.raw_receiver DIRECTORY      prints "raw receiver on 127.0.0.1:PORT"

One connection at a time: read the request head, answer ``100 Continue`` at once when the client
expects it (curl does for a large body, and would otherwise wait a second before sending), then
read exactly Content-Length bytes from the socket with ``recv_into`` into one reused 1 MiB
buffer and write each piece to a new file in DIRECTORY with ``os.write``, answer ``200``, close,
and delete the file (as the sandbox's temp file is deleted once its request is done). That is
what any receiver must do at least to have the body on disk; nothing here is slowed down or
skipped to make the floor look higher or lower.
"""

from __future__ import annotations

import itertools
import os
import socket
import sys
from pathlib import Path

BUFFER_BYTES = 1024 * 1024
HEAD_LIMIT = 64 * 1024


def _write_all(fd: int, data) -> None:
    with memoryview(data) as view:
        while view:
            written = os.write(fd, view)
            view = view[written:]


def handle(conn: socket.socket, path: Path, view: memoryview) -> None:
    head = b""
    while b"\r\n\r\n" not in head:
        data = conn.recv(HEAD_LIMIT)
        if not data or len(head) > HEAD_LIMIT:
            return
        head += data
    header, _, body_start = head.partition(b"\r\n\r\n")
    fields = {}
    for line in header.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    length = int(fields.get(b"content-length", b"0"))
    if fields.get(b"expect", b"").lower() == b"100-continue":
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _write_all(fd, body_start[:length])
        left = length - min(length, len(body_start))
        while left > 0:
            received = conn.recv_into(view[: min(left, len(view))])
            if received == 0:
                break
            _write_all(fd, view[:received])
            left -= received
    finally:
        os.close(fd)
    status = b"200 OK" if left == 0 else b"400 Bad Request"
    conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    path.unlink()


def serve(directory: Path) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    print(f"raw receiver on 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    view = memoryview(bytearray(BUFFER_BYTES))
    for number in itertools.count():
        conn, _address = listener.accept()
        with conn:
            handle(conn, directory / f"raw-body-{number}", view)


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
