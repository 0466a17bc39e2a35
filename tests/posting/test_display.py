"""The hand-formatted list markup (``posting_pages``) against what Django would render."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.utils import timezone, translation
from django.utils.dateformat import format as date_format

from posting.planning.views import Entry
from posting.reporting import display
from posting.templatetags.posting_pages import calendar_entries, chips, moment


@pytest.mark.parametrize("language", ["en", "id"])
@pytest.mark.parametrize("zone", ["UTC", "Asia/Jakarta", "America/St_Johns", "Asia/Kolkata"])
@pytest.mark.parametrize("month", [1, 5, 8, 12])
def test_moment_reads_as_djangos_date_format(language, zone, month):
    value = datetime(2026, month, 7, 22, 5, 9, tzinfo=UTC)
    with translation.override(language), timezone.override(zone):
        local = timezone.localtime(value)
        expected = (
            f'<time datetime="{local.isoformat()}">{date_format(local, "j M Y, H:i")} '
            f'<span class="has-text-grey">UTC{date_format(local, "O")}</span></time>'
        )
        assert moment(value) == expected


def test_moment_of_nothing_is_empty():
    assert moment(None) == ""


def test_chips_escape_what_taisly_sends():
    chip = display.Chip(
        None, 'Tik"Tok', "Failed", "<script>x</script>", "A & B", "is-danger", is_repost=True
    )
    with translation.override("en"):
        html = chips([chip, chip])

    assert "<script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert 'data-network="Tik&quot;Tok"' in html
    assert 'title="A &amp; B"' in html
    assert html.count("· repost") == 2
    # As the tag in a template: marked safe once, not escaped twice.
    rendered = Template("{% load posting_pages %}{% chips items %}").render(
        Context({"items": [chip]})
    )
    assert rendered.startswith('<span class="tags platform-chips"><span class="tag is-danger')


def test_calendar_entries_escape_descriptions():
    entry = Entry(
        code="c0de",
        summary=display.Summary("failed", "Failed"),
        iso="2026-05-05T10:00:00+07:00",
        time="10:00",
        text='<b>"Launch"</b> & more',
    )
    html = calendar_entries([entry], "/w/abc/posts/")

    assert 'href="/w/abc/posts/c0de/"' in html
    assert "<b>" not in html
    assert "&lt;b&gt;&quot;Launch&quot;&lt;/b&gt; &amp; more" in html
    assert 'class="calendar-post is-danger"' in html


def test_post_rows_escape_descriptions_and_authors():
    from types import SimpleNamespace

    from posting.templatetags.posting_pages import post_rows

    post = SimpleNamespace(
        code="c0de",
        created_at=datetime(2026, 5, 5, 10, 0, tzinfo=UTC),
        scheduled_at=None,
    )
    row = display.PostRow(
        post,
        display.Summary("success", "Posted"),
        [],
        text='<img src=x onerror="alert(1)">',
        author="<b>Eve</b>",
    )
    with translation.override("en"), timezone.override("UTC"):
        html = post_rows([row], "/w/abc/posts/")
        unnamed = post_rows([display.PostRow(post, row.summary, [], "", "")], "/w/abc/posts/")

    assert "<img src=x" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "<b>Eve</b>" not in html and "&lt;b&gt;Eve&lt;/b&gt;" in html
    assert 'href="/w/abc/posts/c0de/"' in html
    assert "scheduled for" not in html
    assert "(no description)" in unnamed and "Taisly&#x27;s own app" in unnamed
