"""The dashboard's WSGI application for tests/bench/bench_upload.py, with the request body read
the way ``BENCH_UPLOAD_INPUT`` says, so one run can compare them under the same gunicorn:

- ``production``: ``taisly_dash.wsgi.application`` exactly as deployed;
- ``plain``: Django's own application, reading the body through gunicorn's reader as it comes
  (the multipart parser asks for 64 KiB at a time);
- ``buffered``: the body through one 1 MiB ``io.BufferedReader`` over gunicorn's reader (the
  parser's 64 KiB reads come from the buffer; gunicorn is asked for 1 MiB at a time);
- ``socket``: ``taisly_dash.wsgi_input.buffered_input``, which reads a large body straight from
  gunicorn's socket (while that module exists).

Production never loads this module.
"""

from __future__ import annotations

import io
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taisly_dash.settings")

MODE = os.environ.get("BENCH_UPLOAD_INPUT", "production")
BUFFER_BYTES = 1024 * 1024


class _RawInput(io.RawIOBase):
    def __init__(self, stream) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def buffered(app):
    def wrapped(environ, start_response):
        if int(environ.get("CONTENT_LENGTH") or 0) > BUFFER_BYTES:
            environ["wsgi.input"] = io.BufferedReader(
                _RawInput(environ["wsgi.input"]), buffer_size=BUFFER_BYTES
            )
        return app(environ, start_response)

    return wrapped


if MODE == "production":
    from taisly_dash.wsgi import application
elif MODE in ("plain", "buffered", "socket"):
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
    if MODE == "buffered":
        application = buffered(application)
    elif MODE == "socket":
        from taisly_dash.wsgi_input import buffered_input

        application = buffered_input(application)
else:
    raise RuntimeError(f"BENCH_UPLOAD_INPUT={MODE!r}: production, plain, buffered or socket.")
