"""The bucket storage for kept videos: django-storages' S3Storage, saving an upload from its
temp file on disk.

S3Storage saves any file through boto3's ``upload_fileobj``, which reads the parts of a
multipart upload into memory ahead of sending them (up to ten 8 MiB parts: a web process grew by
109 MiB saving a 200 MiB video). A Django upload already lies in a temp file, so it is handed to
``upload_file`` by its path instead, which reads each part from disk as it is sent. Anything
else (a file made in memory) is saved as S3Storage saves it.
"""

from __future__ import annotations

from storages.backends.s3 import S3Storage
from storages.utils import clean_name


class VideoStorage(S3Storage):
    def _save(self, name, content):
        path = getattr(content, "temporary_file_path", None)
        if path is None:
            return super()._save(name, content)
        cleaned = clean_name(name)
        key = self._normalize_name(cleaned)
        params = self._get_write_parameters(key, content)
        self.bucket.Object(key).upload_file(path(), ExtraArgs=params, Config=self.transfer_config)
        return cleaned
