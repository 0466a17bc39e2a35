"""The list partials (history rows and chips, calendar entries) escape what Taisly and members
write, and a row's times read in the viewer's time zone as Django's date format writes them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateformat import format as date_format

from posting.planning.selectors import Entry
from posting.reporting.selectors import ListChip
from tests.posting.factories import make_platforms, make_post


def test_chips_escape_what_taisly_sends():
    chip = ListChip(
        network='Tik"Tok',
        label="Failed",
        code="<script>x</script>",
        explanation="A & B",
        css="is-danger",
        is_repost=True,
    )
    with translation.override("en"):
        html = Template("{% load posting_pages %}{% chips items %}").render(
            Context({"items": (chip, chip)})
        )

    assert "<script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert 'data-network="Tik&quot;Tok"' in html
    assert 'title="A &amp; B"' in html
    assert html.count("· repost") == 2
    assert html.startswith('<span class="tags platform-chips"><span class="tag is-danger')


def test_calendar_entries_escape_descriptions():
    entry = Entry(
        url="/w/abc/posts/c0de/",
        css="is-danger",
        label="Failed",
        iso="2026-05-05T10:00:00+07:00",
        time="10:00",
        text='<b>"Launch"</b> & more',
        workspace_name="<i>Acme</i>",
    )
    html = render_to_string("posting/calendar.html#entry", {"entry": entry, "across": True})

    assert 'href="/w/abc/posts/c0de/"' in html
    assert "<b>" not in html
    assert "&lt;b&gt;&quot;Launch&quot;&lt;/b&gt; &amp; more" in html
    assert 'class="calendar-post is-danger"' in html
    assert "<i>" not in html and "&lt;i&gt;Acme&lt;/i&gt;" in html


@pytest.mark.django_db
def test_post_rows_escape_descriptions_and_authors(workspace, alice, login):
    platforms = make_platforms(workspace)
    alice.display_name = "<b>Eve</b>"
    alice.save(update_fields=["display_name"])
    made = make_post(
        workspace, platforms, description='<img src=x onerror="alert(1)">', author=alice
    )
    make_post(workspace, platforms, description="")

    html = login(alice).get(reverse("posting:history", kwargs={"code": workspace.code}))
    html = html.content.decode()

    assert "<img src=x" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "<b>Eve</b>" not in html and "&lt;b&gt;Eve&lt;/b&gt;" in html
    assert f'href="/w/{workspace.code}/posts/{made.code}/"' in html
    assert "scheduled for" not in html
    assert "(no description)" in html and "Taisly's own app" in html


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "id"])
@pytest.mark.parametrize("zone", ["UTC", "Asia/Jakarta", "America/St_Johns", "Asia/Kolkata"])
def test_a_rows_time_reads_in_the_viewers_zone(workspace, alice, login, language, zone):
    made = datetime(2026, 8, 7, 22, 5, 9, tzinfo=UTC)
    make_post(workspace, {}, created_at=made)
    alice.timezone, alice.language = zone, language
    alice.save(update_fields=["timezone", "language"])

    # The request activates the viewer's language and zone; the overrides put back the test's.
    with translation.override(language), timezone.override(zone):
        html = login(alice).get(reverse("posting:history", kwargs={"code": workspace.code}))
        local = timezone.localtime(made)
        expected = (
            f'<time datetime="{local.isoformat()}">{date_format(local, "j M Y, H:i")} '
            f'<span class="has-text-grey">UTC{date_format(local, "O")}</span></time>'
        )
    assert expected in html.content.decode()
