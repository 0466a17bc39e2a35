"""The environment of a real process (a qcluster, gunicorn) started by a test: this test's
PostgreSQL database and media, as a deployment's processes would share them."""

from __future__ import annotations

import os
from pathlib import Path

from django.db import connection


def process_env(settings, tmp_path: Path, *, leave_out: tuple[str, ...] = (), **extra) -> dict:
    """``os.environ`` without pytest's and the prefixes in ``leave_out``, pointed at this test's
    database, media and Taisly URL, one worker per cluster; ``extra`` on top."""
    url = os.environ.get("DATABASE_URL", "")
    assert url.startswith(("postgres://", "postgresql://")), "DATABASE_URL names no PostgreSQL"
    skip = ("PYTEST", "DJANGO_ENV", *leave_out)
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(skip)},
        "DJANGO_SETTINGS_MODULE": "taisly_dash.settings",
        "DJANGO_ENV": "development",
        "DATABASE_URL": url.rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"],
        "SANDBOX_DATABASE_URL": f"sqlite:///{tmp_path / 'unused-sandbox.sqlite3'}",
        "TAISLY_BASE_URL": settings.TAISLY_BASE_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "FILE_UPLOAD_TEMP_DIR": str(settings.FILE_UPLOAD_TEMP_DIR),
        "PYTHONUNBUFFERED": "1",
        "Q_WORKERS": "1",
        "Q_UPLOAD_WORKERS": "1",
        **extra,
    }
