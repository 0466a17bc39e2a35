"""Bounds on the dates people type, for every form and URL that takes one (history, calendar,
audit and oversight filters). A date outside them is refused with a sentence, before any
arithmetic on it (a day added, a time zone applied) could overflow Python's or the database's
range and answer with a 500.

The bounds are generous for a posting dashboard: Taisly keeps no post from before 2000, and
nobody schedules one after 2099.
"""

from __future__ import annotations

from datetime import date, datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)


def out_of_range_sentence() -> str:
    # Written as every date of the app is ("1 Jan 2000", templates/accounts/_time.html), not
    # the locale's long DATE_FORMAT ("Jan. 1, 2000").
    return _("Enter a date between %(first)s and %(last)s.") % {
        "first": date_format(FIRST_DAY, "j M Y"),
        "last": date_format(LAST_DAY, "j M Y"),
    }


def in_range(day: date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY


class BoundedDateField(forms.DateField):
    """A DateField that refuses dates outside ``FIRST_DAY`` … ``LAST_DAY`` with a sentence."""

    def validate(self, value) -> None:
        super().validate(value)
        if value and not in_range(value):
            raise ValidationError(out_of_range_sentence(), code="out_of_range")


class BoundedDateTimeField(forms.DateTimeField):
    """A DateTimeField whose typed day must lie within ``FIRST_DAY`` … ``LAST_DAY``, checked on
    the naive value as typed: making 9999-12-31 23:59 aware in a zone west of UTC (or comparing
    it with now) would overflow before any later check could run."""

    def to_python(self, value):
        if isinstance(value, str):
            try:  # Django reads ISO 8601 first, without strptime
                typed = parse_datetime(value.strip())
            except ValueError:
                typed = None
            if typed is not None and not in_range(typed.date()):
                raise ValidationError(out_of_range_sentence(), code="out_of_range")
        return super().to_python(value)

    def strptime(self, value, format):
        moment = super().strptime(value, format)
        if not in_range(moment.date()):
            raise ValidationError(out_of_range_sentence(), code="out_of_range")
        return moment


def local_moment(value: str | None) -> datetime | None:
    """A minute in the viewer's time zone as a link writes it ("2026-12-08T14:00", the
    calendar's "+" and drop), aware; None for anything else, or a day outside the bounds (read
    before the zone is applied, which could overflow). The caller decides whether it is too
    early or too late to use."""
    if not value or len(value) != 16:
        return None
    try:
        moment = datetime.strptime(value, "%Y-%m-%dT%H:%M")  # naive: made aware below
    except ValueError:
        return None
    if not in_range(moment.date()):
        return None
    return timezone.make_aware(moment, timezone.get_current_timezone())
