"""What a Taisly key looks like: the one definition, shared by the connect form, the audit log's
scrubber and the client's error scrubber.

Taisly's keys are ``taisly_`` and 64 hex characters today. The form accepts any letters and
digits of a sensible length after the prefix, so a future key format is not refused here
(Taisly is the judge); the scrubbers cut anything the form would accept, and more: a truncated
key (from ``SCRUB_MIN_BODY`` characters on) and a long run of hex without its prefix (a server
quoting the key's body).
"""

from __future__ import annotations

import re

KEY_PREFIX = "taisly_"
#: Characters after the prefix, in a key the connect form accepts.
KEY_BODY = "[0-9A-Za-z]"
KEY_MIN_BODY = 16
KEY_MAX_BODY = 200
#: A prefixed run this long is scrubbed even though the form would call it too short.
SCRUB_MIN_BODY = 12

KEY_SHAPE = re.compile(rf"{KEY_PREFIX}{KEY_BODY}{{{KEY_MIN_BODY},{KEY_MAX_BODY}}}")
_KEY_IN_TEXT = re.compile(
    rf"{KEY_PREFIX}{KEY_BODY}{{{SCRUB_MIN_BODY},}}|(?<![0-9A-Za-z])[0-9A-Fa-f]{{32,}}"
)


def is_key_shaped(value: str) -> bool:
    """Whether ``value`` (whitespace already removed) looks like a Taisly key."""
    return bool(KEY_SHAPE.fullmatch(value or ""))


def key_hint(api_key: str) -> str:
    """The form a key is shown in once stored: ``taisly_…a1b2``."""
    return f"{KEY_PREFIX}…{api_key[-4:]}" if api_key else ""


def scrub(text: str | None) -> str | None:
    """``text`` with anything that looks like a Taisly key replaced by a hint (``taisly_…a1b2``)."""
    if not text:
        return text
    return _KEY_IN_TEXT.sub(lambda m: key_hint(m.group(0)), text)
