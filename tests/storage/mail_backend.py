"""An email backend for processes a test starts: Django's file backend, writing into the
directory named by ``TEST_EMAIL_DIR``, so the test can count what every process sent."""

from __future__ import annotations

import os

from django.core.mail.backends import filebased


class DirectoryBackend(filebased.EmailBackend):
    def __init__(self, *args, **kwargs):
        kwargs["file_path"] = os.environ["TEST_EMAIL_DIR"]
        super().__init__(*args, **kwargs)
