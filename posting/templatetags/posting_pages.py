"""Template helpers for the history, post, calendar and accounts pages, and the overview block."""

from __future__ import annotations

from functools import cache, lru_cache
from html import escape

from django import template
from django.forms.utils import flatatt
from django.templatetags.static import static
from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from posting.models import Network, Post, PostResult
from posting.reporting import display, health

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
    """A filter field's control, written here rather than through the form renderer (which
    renders a template per widget and per <option>). Selects and plain inputs only (all the
    filter form has)."""
    widget = field.field.widget
    attrs = tuple({**widget.attrs, "name": field.html_name, "id": field.auto_id}.items())
    value = field.value()
    if hasattr(field.field, "choices"):
        current = "" if value is None else str(value)
        choices = tuple((str(choice), str(label)) for choice, label in field.field.choices)
        return _select(attrs, choices, current)
    attrs = dict(attrs)
    attrs["type"] = attrs.get("type") or getattr(widget, "input_type", "text")
    if value not in (None, ""):
        attrs["value"] = widget.format_value(value)
    return format_html("<input{}>", flatatt(attrs))


@lru_cache(maxsize=512)
def _select(attrs: tuple, choices: tuple, current: str) -> str:
    """A <select>, made once per process for each set of inputs (every input is in the key,
    labels already translated, so a cached one is never stale)."""
    options = format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        (
            (choice, mark_safe(" selected") if choice == current else "", label)
            for choice, label in choices
        ),
    )
    return format_html("<select{}>{}</select>", flatatt(dict(attrs)), options)


@register.simple_tag
def post_rows(rows: list[display.PostRow], history_url: str) -> str:
    """The history list's rows (cover, description, author, times, summary and chips).

    Markup here rather than in the template, like ``chips`` (docs/architecture.md: lists are
    kept cheap per row). Every value is escaped with
    ``html.escape`` (what Django's ``escape`` wraps); ``moment`` and ``chips`` escape their
    own."""
    cover = escape(static("img/video.svg"))
    cover_alt = escape(_("Video (no cover available from Taisly)"))
    no_description = escape(_("(no description)"))
    taisly_app = escape(_("Taisly's own app"))
    made, scheduled_for = escape(_("made")), escape(_("scheduled for"))
    url = escape(history_url)
    out = ['<ul class="post-list">']
    for row in rows:
        post = row.post
        code = escape(str(post.code))
        text = (
            escape(row.text)
            if row.text
            else (f'<span class="has-text-grey">{no_description}</span>')
        )
        scheduled = f" · {scheduled_for} {moment(post.scheduled_at)}" if post.scheduled_at else ""
        out.append(
            f'<li class="box post-row" data-testid="post-row" data-post="{code}">'
            f'<article class="media"><figure class="media-left post-cover">'
            f'<img src="{cover}" alt="{cover_alt}" width="36" height="64"></figure>'
            f'<div class="media-content"><p class="post-description">'
            f'<a href="{url}{code}/" data-testid="post-link">{text}</a></p>'
            f'<p class="is-size-7 has-text-grey post-meta">'
            f"{escape(row.author) if row.author else taisly_app}"
            f" · {made} {moment(post.created_at)}{scheduled}</p>"
            f'<p class="post-status"><span class="tag {escape(row.summary.css)}" '
            f'data-testid="post-summary">{escape(row.summary.label)}</span> '
            f"{chips(row.chips)}</p></div></article></li>"
        )
    out.append("</ul>")
    return mark_safe("".join(out))  # noqa: S308 - every part is escaped above


@register.simple_tag
def chips(chips: list[display.Chip]) -> str:
    """One chip per platform (network icon, network, status, the failure code, "repost").

    Markup here rather than in a template: a history page shows sixty chips. A page repeats
    few distinct chips (a network in a
    status), so each one's markup is made once per process (``_chip``) from exactly what it
    shows: the key is every input, already translated, so a cached chip is never stale."""
    repost = _("repost")
    return mark_safe(  # noqa: S308 - every part is escaped in _chip
        '<span class="tags platform-chips">'
        + "".join(
            _chip(c.css, c.network, c.explanation, c.label, c.code, repost if c.is_repost else "")
            for c in chips
        )
        + "</span>"
    )


@lru_cache(maxsize=2048)
def _chip(css: str, network: str, explanation: str, label: str, code: str, repost: str) -> str:
    return format_html(
        '<span class="tag {} is-light platform-chip" data-testid="chip" data-network="{}"{}>'
        '<img class="network-icon" src="{}" alt="" width="14" height="14"> '
        "<span>{} · {}{}{}</span></span>",
        css,
        network,
        format_html(' title="{}"', explanation) if explanation else "",
        network_icon(network),
        network,
        label,
        format_html(' <code class="chip-code">{}</code>', code) if code else "",
        f" · {repost}" if repost else "",
    )


@register.simple_tag
def calendar_entries(entries, history_url: str) -> str:
    """A calendar day's posts, each linking to its page. Markup here rather than in the
    template for the same reason as ``chips``: a month shows 140 of them. Every value is
    escaped (``html.escape``, which Django's ``escape`` wraps)."""
    url = escape(history_url)
    return mark_safe(  # noqa: S308 - every part is escaped
        '<ul class="calendar-entries">'
        + "".join(
            f'<li><a class="calendar-post {escape(e.summary.css)}" href="{url}{escape(e.code)}/" '
            f'data-testid="calendar-post" title="{escape(e.summary.label)}"><time '
            f'datetime="{escape(e.iso)}">{escape(e.time)}</time> <span>{escape(e.text)}</span>'
            "</a></li>"
            for e in entries
        )
        + "</ul>"
    )


@register.simple_tag
def moment(value) -> str:
    """A moment in the viewer's time zone with its UTC offset: the markup of
    accounts/_time.html, as a tag because lists show hundreds of them. Formatted by hand as
    Django's "j M Y, H:i" and "O" (``tests/posting/test_display.py`` holds them equal) rather
    than with ``date_format``."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    month = escape(str(MONTHS_3[local.month]).title())
    return mark_safe(  # noqa: S308 - the only text is the escaped month name
        f'<time datetime="{local.isoformat()}">{local.day} {month} {local.year}, '
        f'{local:%H:%M} <span class="has-text-grey">UTC{local:%z}</span></time>'
    )


@register.inclusion_tag("posting/_overview.html", takes_context=True)
def posting_overview(context) -> dict:
    """The overview's "what needs me?" block: last posts, failures nobody has looked at yet,
    the next scheduled posts. Five queries whatever the workspace holds."""
    access = context["access"]
    workspace = access.workspace
    latest = display.for_list(Post.objects.filter(workspace=workspace)).order_by(
        "-created_at", "-id"
    )[:OVERVIEW_POSTS]
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
        "rows": display.list_rows(latest),
        "failures": [display.chip(r) for r in failures[:OVERVIEW_FAILURES]],
        "more_failures": len(failures) > OVERVIEW_FAILURES,
        "upcoming": upcoming,
        "request": context.get("request"),
    }


@register.simple_tag
def attention_tag(workspace) -> str:
    """What a workspace of posting.reporting.health needs first, as a coloured tag."""
    label, css = {
        health.ATTENTION_INVALID: (_("Key no longer works"), "is-danger"),
        health.ATTENTION_FAILURES: (_("Unread failures"), "is-danger"),
        health.ATTENTION_BLOCKED: (_("Blocked by the rate limit"), "is-warning"),
        health.ATTENTION_STALE: (_("Sync is stale"), "is-warning"),
    }.get(workspace.attention, (_("All fine"), "is-success"))
    return format_html(
        '<span class="tag {} is-light" data-testid="attention">{}</span>', css, label
    )
