"""A kept video, opened for the forward to Taisly in constant memory, wherever it is stored.

On local disk (``FileSystemStorage``) that is the file itself. In an S3-compatible bucket
(django-storages' ``S3Storage``) it is *not* the storage's own file object: ``S3File`` downloads
the whole object into a ``SpooledTemporaryFile`` on its first read, in memory unless
``AWS_S3_MAX_MEMORY_SIZE`` is set, so a 500 MB video would sit in the worker's memory. Here the
object's body is streamed instead, block by block as the multipart body asks for it
(``posting.taisly.client.MultipartBody``: it sizes the file by seeking to its end, then reads it
from the start with ``readinto``), and only one block is ever held.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from botocore.exceptions import BotoCoreError, ClientError
from django.db.models.fields.files import FieldFile
from storages.backends.s3 import S3Storage
from storages.utils import clean_name, safe_join


class StoredVideoUnreadable(Exception):
    """The storage failed while the video was being read (the bucket stopped answering, the
    connection to it broke): another try may work.

    Deliberately not an ``OSError``: raised from inside a request body, an ``OSError`` is taken
    by urllib3 for a broken connection *to Taisly*, which is an ambiguous send (it may have
    posted). This one passes through requests untouched, and the request it cut short, with
    fewer bytes than its ``Content-Length``, cannot have made a post."""


@contextmanager
def open_video(video: FieldFile) -> Iterator[IO[bytes]]:
    """The stored video as a binary file: ``read``/``readinto``, ``seek``, ``tell``, and a
    ``name`` whose last part is the stored file's name. A missing video raises
    ``FileNotFoundError``; a bucket that cannot be read raises ``StoredVideoUnreadable``."""
    storage = video.storage
    if isinstance(storage, S3Storage):
        stream = BucketObjectStream(storage, video.name)
        try:
            yield stream
        finally:
            stream.close()
        return
    with storage.open(video.name, "rb") as file:
        yield file


class BucketObjectStream(io.RawIOBase):
    """An object in an S3-compatible bucket, read as it streams in (``GetObject``'s body).

    Its size is known from the first answer, so seeking to the end costs nothing. Reading
    goes on from wherever the open body is; after a seek elsewhere the next read asks for a new
    body from that byte on (a ``Range`` request). ``MultipartBody`` seeks to the end and back to
    where it started, so one forward is one ``GetObject``."""

    def __init__(self, storage: S3Storage, name: str) -> None:
        super().__init__()
        self.name = name
        self._client = storage.connection.meta.client
        self._bucket = storage.bucket_name
        self._key = safe_join(storage.location, clean_name(name))
        self._body = None
        self._body_at = 0
        self._position = 0
        self.size = 0
        self._open_body(0)

    def _open_body(self, start: int) -> None:
        self._close_body()
        params = {"Bucket": self._bucket, "Key": self._key}
        if start:
            params["Range"] = f"bytes={start}-"
        try:
            answer = self._client.get_object(**params)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                raise FileNotFoundError(f"No object {self._key!r} in the bucket.") from None
            raise StoredVideoUnreadable(f"Reading {self._key!r} from the bucket: {exc}") from exc
        except BotoCoreError as exc:
            raise StoredVideoUnreadable(f"Reading {self._key!r} from the bucket: {exc}") from exc
        if not start:
            self.size = answer["ContentLength"]
        self._body, self._body_at = answer["Body"], start

    def _close_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._position
        elif whence == io.SEEK_END:
            offset += self.size
        if offset < 0:
            raise ValueError("Cannot seek before the start of the video.")
        self._position = offset
        return offset

    def readinto(self, buffer) -> int:
        if self._position >= self.size:
            return 0
        if self._body is None or self._body_at != self._position:
            self._open_body(self._position)
        want = min(len(buffer), self.size - self._position)
        try:
            data = self._body.read(want)
        except (BotoCoreError, OSError) as exc:
            # botocore's read timeouts and broken streams are OSErrors too (see the class
            # above): none of them may reach urllib3 as such.
            raise StoredVideoUnreadable(f"Reading {self._key!r} from the bucket: {exc}") from exc
        if not data:
            raise StoredVideoUnreadable(f"{self._key!r} ended at byte {self._position}.")
        got = len(data)
        buffer[:got] = data
        self._position += got
        self._body_at += got
        return got

    def close(self) -> None:
        self._close_body()
        super().close()
