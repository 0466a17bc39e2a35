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
        "filters": ["request_id"],
    }


_FILTERS = {"request_id": {"()": "taisly_dash.requestid.RequestIdFilter"}}


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
