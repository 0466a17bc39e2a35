"""Post.state_reason: why a post is SEND_FAILED, NEEDS_CHECK or waiting, in the viewer's language.

The reason is decided where no person's language is active (the uploads worker, a sync), and
read by people in English or Bahasa Indonesia. So it is stored in every shipped language:

    store(lambda: _("Taisly did not answer in time."))  ──> '{"en": "...", "id": "..."}'
    shown(post.state_reason)                            ──> the sentence in the active language

``build`` is called once per language in ``settings.LANGUAGES`` under ``translation.override``,
so sentences with numbers or names in them ("after 3 tries", "Ana decided ...") are translated
whole, not pieced together. A stored value that is not such a JSON object is a message id kept
untranslated (``posting.mirror.sync.CANCELLED_AT_TAISLY``, older rows): it is translated when shown.

A time of day inside a sentence ("frees up at 17:57") goes through ``moment``: while ``store``
renders, it is kept as the moment itself, and ``shown`` writes it in the viewer's time zone (the
worker that decided runs in UTC; the person reading may be in Jakarta).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime

from django.conf import settings
from django.utils import formats, timezone, translation
from django.utils.translation import gettext

Sentence = Callable[[], str]

_storing: ContextVar[bool] = ContextVar("reason_storing", default=False)
_MOMENT = re.compile(r"\[\[at:([0-9T:.+-]{19,40})\]\]")


def moment(value: datetime) -> str:
    """A time of day for a sentence: in the active time zone, or a placeholder for ``shown``
    while ``store`` renders."""
    if _storing.get():
        return f"[[at:{value.astimezone(UTC).isoformat()}]]"
    return _time_of_day(value)


def _time_of_day(value: datetime) -> str:
    return formats.time_format(timezone.localtime(value), "H:i")


def store(build: Sentence) -> str:
    """The value for ``Post.state_reason``: ``build()`` rendered in every shipped language."""
    rendered = {}
    token = _storing.set(True)
    try:
        for code, _name in settings.LANGUAGES:
            with translation.override(code):
                rendered[code] = str(build())
    finally:
        _storing.reset(token)
    return json.dumps(rendered, ensure_ascii=False)


def _moments_shown(text: str) -> str:
    def local(match: re.Match) -> str:
        try:
            return _time_of_day(datetime.fromisoformat(match.group(1)))
        except ValueError:
            return match.group(0)

    return _MOMENT.sub(local, text)


def shown(value: str) -> str:
    """The stored reason in the active language (English when that one is missing), its
    moments in the active time zone."""
    return _moments_shown(_pick(value))


def _pick(value: str) -> str:
    if not value:
        return ""
    if value.startswith("{"):
        try:
            rendered = json.loads(value)
        except ValueError:
            rendered = None
        if isinstance(rendered, dict) and rendered:
            language = (translation.get_language() or settings.LANGUAGE_CODE).split("-")[0]
            return str(
                rendered.get(language)
                or rendered.get(settings.LANGUAGE_CODE.split("-")[0])
                or next(iter(rendered.values()))
            )
    return gettext(value)


def later(value: str) -> Sentence:
    """A stored reason as a ``build`` for ``store``: kept as it is, in each language (its
    moments kept as moments)."""
    return lambda: _pick(value) if _storing.get() else shown(value)
