"""The compose form's upload handler: always to a temp file, and never past the size limit.

    request body ──chunks──> LimitedTemporaryFileUploadHandler ──> temp file in FILE_UPLOAD_TEMP_DIR
                                   │ bytes > POST_VIDEO_MAX_MB
                                   └──> StopUpload(connection_reset=True): the temp file is closed
                                        (and so deleted), the rest of the body is not read

Django's default handlers keep small files in memory and large ones in a temp file; a video is
always large, and memory must stay flat whatever arrives, so this one always streams to disk.
The view checks ``request.upload_too_large`` afterwards and answers with a sentence. Each file's
SHA-256 is taken as its chunks stream in (``file.sha256``), so the video is read once: what
reviewers approve is compared by it (``posting.models.Draft.video_sha256``).
"""

from __future__ import annotations

import hashlib
import os

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler

from posting.sending.probe import max_video_bytes


class LimitedTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.limit = max_video_bytes()
        if request is not None:
            request.upload_too_large = False

    def new_file(self, *args, **kwargs) -> None:
        # The temp dir lives under MEDIA_ROOT (same filesystem: saving is a rename); make it on
        # first use rather than asking every deployment to.
        if settings.FILE_UPLOAD_TEMP_DIR:
            os.makedirs(settings.FILE_UPLOAD_TEMP_DIR, exist_ok=True)
        super().new_file(*args, **kwargs)
        self.digest = hashlib.sha256()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start + len(raw_data) > self.limit:
            if self.request is not None:
                self.request.upload_too_large = True
            # connection_reset: Django stops reading the body here instead of draining it.
            raise StopUpload(connection_reset=True)
        self.digest.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size: int):
        file = super().file_complete(file_size)
        file.sha256 = self.digest.hexdigest()
        return file
