"""How log lines look: ``LOG_FORMAT=plain`` (the default, for a terminal) or ``json`` (one JSON
object per line, for a log collector), both with the request id of the line's request or task
(``taisly_dash.requestid``). Django-free, so gunicorn's settings use it too.

A JSON line: ``{"time": "2026-…Z", "level": "INFO", "logger": "posting.sending.outcomes",
"message": "Post … sent to Taisly as …", "request_id": "…"}``, with ``exc_info`` holding the
traceback when there is one. Secrets never reach a log line in the first place (keys are
scrubbed or never formatted); the format changes nothing about that, and
``tests/unit/test_logs.py`` scans both.
"""

from __future__ import annotations

import logging
import re

from pythonjsonlogger.core import RESERVED_ATTRS

FORMATS = ("plain", "json")

_PLAIN = "%(asctime)s %(levelname)s %(name)s %(message)s"
_JSON_FIELDS = "%(levelname)s %(name)s %(message)s %(request_id)s"


def formatters() -> dict:
    return {
        "plain": {"format": _PLAIN},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": _JSON_FIELDS,
            "rename_fields": {"levelname": "level", "name": "logger"},
            # ISO 8601 in UTC.
            "timestamp": "time",
            # Django puts the request object on its records: its repr says nothing the message
            # does not, and a JSON field of it would only be noise.
            "reserved_attrs": [*RESERVED_ATTRS, "request"],
        },
    }


def handler(log_format: str) -> dict:
    return {
        "class": "logging.StreamHandler",
        "formatter": log_format,
        "filters": ["request_id", "review_token"],
    }


#: A review link's path: /review/<token>/. Draft codes (UUIDs) under /review/ are no secret.
_REVIEW_PATH = re.compile(r"(/review/)([^/\s?#\"']+)")
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def _hide_token(match: re.Match) -> str:
    segment = match.group(2)
    return match.group(0) if _UUID.fullmatch(segment) else match.group(1) + "[token]"


class ReviewTokenFilter(logging.Filter):
    """A review link's token never reaches a log line: Django's "Not Found: /review/…" and
    runserver's request lines carry the path, so any ``/review/<segment>`` that is not a draft's
    code is written ``/review/[token]``. The link's own view answers with a redirect whatever
    the token, so Django logs nothing for it; this catches the rest (a path with more after
    the token, a method it refuses)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/review/" in message:
            hidden = _REVIEW_PATH.sub(_hide_token, message)
            if hidden != message:
                record.msg, record.args = hidden, None
        return True


_FILTERS = {
    "request_id": {"()": "taisly_dash.requestid.RequestIdFilter"},
    "review_token": {"()": "taisly_dash.logs.ReviewTokenFilter"},
}


def logging_config(*, log_format: str, level: str) -> dict:
    """Django's LOGGING: every line through one console handler in ``log_format``."""
    if log_format not in FORMATS:
        raise ValueError(f"log format {log_format!r}: one of {', '.join(FORMATS)}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": _FILTERS,
        "formatters": formatters(),
        "handlers": {"console": handler(log_format)},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own console handler would print every line twice with ours.
            "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "django.db.backends": {"level": "WARNING"},
        },
    }


def gunicorn_logging(*, log_format: str, level: str) -> dict:
    """gunicorn's ``logconfig_dict``: its own lines (start, workers, errors) in the same format.
    (It keeps no access log: a review link carries its token in the URL.)"""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": _FILTERS,
        "formatters": formatters(),
        "handlers": {"console": {**handler(log_format), "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": level, "propagate": False},
            "gunicorn.access": {"handlers": ["console"], "level": level, "propagate": False},
        },
    }
