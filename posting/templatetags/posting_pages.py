"""Template helpers for the history, post, calendar and accounts pages, and the overview block."""

from __future__ import annotations

from functools import cache

from django import template
from django.db.models import Prefetch
from django.forms.utils import flatatt
from django.templatetags.static import static
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from posting import display
from posting.models import Network, Platform, Post, PostResult

register = template.Library()

_ICONS = {n.value: n.value.lower() for n in Network}

OVERVIEW_POSTS = 5
OVERVIEW_FAILURES = 5
OVERVIEW_SCHEDULED = 5


@register.filter
def network_icon(network: str) -> str:
    """The static URL of a network's small icon (a generic one for networks we do not know)."""
    return _icon(_ICONS.get(network, "other"))


@cache
def _icon(name: str) -> str:
    return static(f"img/networks/{name}.svg")


@register.simple_tag
def filter_control(field) -> str:
    """A filter field's control, written here rather than through the form renderer: Django
    renders a template per widget and per <option>, which was a large share of the history
    page's time. Selects and plain inputs only (all the filter form has)."""
    widget = field.field.widget
    attrs = {**widget.attrs, "name": field.html_name, "id": field.auto_id}
    value = field.value()
    if hasattr(field.field, "choices"):
        current = "" if value is None else str(value)
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (choice, mark_safe(" selected") if str(choice) == current else "", label)
                for choice, label in field.field.choices
            ),
        )
        return format_html("<select{}>{}</select>", flatatt(attrs), options)
    attrs["type"] = attrs.get("type") or getattr(widget, "input_type", "text")
    if value not in (None, ""):
        attrs["value"] = widget.format_value(value)
    return format_html("<input{}>", flatatt(attrs))


@register.simple_tag
def moment(value) -> str:
    """A moment in the viewer's time zone with its UTC offset: the markup of
    accounts/_time.html, as a tag because lists show hundreds of them (an include each is
    most of a page's rendering time)."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}">{} <span class="has-text-grey">UTC{}</span></time>',
        local.isoformat(),
        date_format(local, "j M Y, H:i"),
        date_format(local, "O"),
    )


@register.inclusion_tag("posting/_overview.html", takes_context=True)
def posting_overview(context) -> dict:
    """The overview's "what needs me?" block: last posts, failures nobody has looked at yet,
    the next scheduled posts. Five queries whatever the workspace holds."""
    access = context["access"]
    workspace = access.workspace
    results = Prefetch(
        "results",
        queryset=PostResult.objects.select_related("platform").order_by("platform__network", "id"),
    )
    targets = Prefetch("target_platforms", queryset=Platform.objects.order_by("network", "id"))
    latest = (
        Post.objects.filter(workspace=workspace)
        .select_related("author")
        .prefetch_related(results, targets)
        .order_by("-created_at", "-id")[:OVERVIEW_POSTS]
    )
    unseen = PostResult.objects.filter(
        post__workspace=workspace, status=PostResult.Status.FAILED, seen_at__isnull=True
    )
    failures = list(
        unseen.select_related("post", "platform").order_by("-status_changed_at", "-id")[
            : OVERVIEW_FAILURES + 1
        ]
    )
    upcoming = list(
        Post.objects.filter(workspace=workspace, due_at__gt=timezone.now())
        .exclude(state__in=(Post.State.CANCELLED, Post.State.SEND_FAILED))
        .order_by("due_at", "id")[:OVERVIEW_SCHEDULED]
    )
    return {
        "access": access,
        "workspace": workspace,
        "rows": display.rows(latest),
        "failures": [display.chip(r) for r in failures[:OVERVIEW_FAILURES]],
        "more_failures": len(failures) > OVERVIEW_FAILURES,
        "upcoming": upcoming,
        "request": context.get("request"),
    }
