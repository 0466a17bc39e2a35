"""``{% workspace_nav %}``: the navigation's workspace switcher and the current workspace's links.

Every page shows them, and as a template they were most of the base template's time (a dozen
URL reversals and translations). The markup depends only on the few values in the key below,
so it is rendered once per process for each set of them: the language, the URL prefix, the
user's memberships (code, name, kind), the workspace in the URL, whether it has an approval
workflow on (its Review link) and the user's role there. A
change to any of them is a new key, so a cached navigation is never stale; the key holds no
secret (the log-out form, with its CSRF token, stays in the page).

An entry holds all the user's memberships, and a user has one per workspace they open, so a
user with many workspaces is not cached (``CACHED_MEMBERSHIPS``): memory stays bounded by
``_render``'s size times the largest entry it may hold.
"""

from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace

from django import template
from django.template.loader import render_to_string
from django.urls import get_script_prefix
from django.utils.safestring import SafeString
from django.utils.translation import get_language

register = template.Library()

#: Users with more memberships get their navigation rendered each time.
CACHED_MEMBERSHIPS = 30


@register.simple_tag(takes_context=True)
def workspace_nav(context) -> SafeString:
    nav = context.get("nav")
    if nav is None:  # a page rendered without the context processor (an error page)
        return SafeString("")
    current = nav.current
    key = (
        get_language(),
        get_script_prefix(),
        tuple((str(m.workspace.code), m.workspace.name, m.workspace.kind) for m in nav.memberships),
        (str(current.code), current.name) if current else None,
        bool(current) and current.approval_workflow != "none",
        nav.role,
        nav.is_owner,
        nav.can_write,
        nav.is_agency,
    )
    if len(nav.memberships) > CACHED_MEMBERSHIPS:
        return _render.__wrapped__(key)
    return _render(key)


@lru_cache(maxsize=256)
def _render(key: tuple) -> SafeString:
    _language, _prefix, memberships, current, review_on, role, is_owner, can_write, is_agency = key
    return SafeString(
        render_to_string(
            "accounts/_workspace_nav.html",
            {
                "memberships": [
                    SimpleNamespace(code=code, name=name, kind=kind)
                    for code, name, kind in memberships
                ],
                "current": SimpleNamespace(code=current[0], name=current[1]) if current else None,
                "review_on": review_on,
                "role": role,
                "is_owner": is_owner,
                "can_write": can_write,
                "is_agency": is_agency,
            },
        )
    )
