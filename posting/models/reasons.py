"""Post.state_reason: why a post is SEND_FAILED, NEEDS_CHECK or waiting, in the viewer's language.

The reason is decided where no person's language is active (the uploads worker, a sync), and
read by people in English or Bahasa Indonesia. So it is stored in every shipped language:

    store(lambda: _("Taisly did not answer in time."))  ──> '{"en": "...", "id": "..."}'
    shown(post.state_reason)                            ──> the sentence in the active language

``build`` is called once per language in ``settings.LANGUAGES`` under ``translation.override``,
so sentences with numbers or names in them ("after 3 tries", "Ana decided ...") are translated
whole, not pieced together. A stored value that is not such a JSON object is a message id kept
untranslated (``posting.mirror.sync.CANCELLED_AT_TAISLY``, older rows): it is translated when shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

Sentence = Callable[[], str]


def store(build: Sentence) -> str:
    """The value for ``Post.state_reason``: ``build()`` rendered in every shipped language."""
    rendered = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            rendered[code] = str(build())
    return json.dumps(rendered, ensure_ascii=False)


def shown(value: str) -> str:
    """The stored reason in the active language (English when that one is missing)."""
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
    """A stored reason as a ``build`` for ``store``: kept as it is, in each language."""
    return lambda: shown(value)
