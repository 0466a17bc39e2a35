"""Template helpers of the posting pages: a network's icon, what a workspace needs first, and
the overview's "what needs me?" block. They return data or render a template; the markup is in
the templates."""

from __future__ import annotations

from functools import cache, lru_cache

from django import template
from django.template import Context, Engine
from django.templatetags.static import static
from django.utils import timezone
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from posting.models import Network
from posting.reporting import health, selectors

register = template.Library()

_ICONS = {n.value: n.value.lower() for n in Network}


@register.filter
def network_icon(network: str) -> str:
    """The static URL of a network's small icon (a generic one for networks we do not know)."""
    return _icon(_ICONS.get(network, "other"))


@cache
def _icon(name: str) -> str:
    return static(f"img/networks/{name}.svg")


@register.simple_tag
def chips(chips: tuple[selectors.ListChip, ...]) -> str:
    """A list row's platform chips: posting/_chips.html, rendered once per process for each
    distinct set, since a page repeats a few (a network in a status). The key is everything the
    chips show (labels already translated), the language (for "repost") and the template object
    (a new one once an edited template is reloaded), so a cached set is never stale."""
    return _chips(Engine.get_default().get_template("posting/_chips.html"), chips, get_language())


@lru_cache(maxsize=1024)
def _chips(chips_template, chips: tuple, language: str) -> str:
    return chips_template.render(Context({"chips": chips}))


@register.filter
def attention(workspace) -> dict:
    """What a workspace of posting.reporting.health needs first: its words and Bulma colour."""
    if workspace.attention == health.ATTENTION_FAILURES:
        # Said with its count and its cause: failures nobody has opened, unread alerts and
        # posts the dashboard could not send are three different things to look at.
        return {"label": _failures_label(workspace), "css": "is-danger"}
    label, css = {
        health.ATTENTION_INVALID: (_("Key no longer works"), "is-danger"),
        health.ATTENTION_BLOCKED: (_("Blocked by the rate limit"), "is-warning"),
        health.ATTENTION_STALE: (_("Sync is stale"), "is-warning"),
    }.get(workspace.attention, (_("All fine"), "is-success"))
    return {"label": label, "css": css}


def _failures_label(workspace) -> str:
    parts = []
    if workspace.unseen_failures:
        parts.append(
            ngettext(
                "%(count)d failure not looked at yet",
                "%(count)d failures not looked at yet",
                workspace.unseen_failures,
            )
            % {"count": workspace.unseen_failures}
        )
    if workspace.unread_alerts:
        parts.append(
            ngettext("%(count)d unread alert", "%(count)d unread alerts", workspace.unread_alerts)
            % {"count": workspace.unread_alerts}
        )
    if workspace.send_problems:
        parts.append(
            ngettext("%(count)d post not sent", "%(count)d posts not sent", workspace.send_problems)
            % {"count": workspace.send_problems}
        )
    return " · ".join(parts)


@register.inclusion_tag("posting/_overview.html", takes_context=True)
def posting_overview(context) -> dict:
    """The overview's "what needs me?" block (posting.reporting.selectors.overview): last
    posts, failures nobody has looked at yet, the next scheduled posts."""
    access = context["access"]
    return {
        "access": access,
        "workspace": access.workspace,
        "request": context.get("request"),
        **selectors.overview(access.workspace, now=timezone.now()),
    }
