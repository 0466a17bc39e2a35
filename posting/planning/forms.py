"""The calendar's "Move" form: a new day and time for a scheduled post or a draft."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.conf import settings
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.inputs import BoundedDateField


class MoveForm(forms.Form):
    """A day (within accounts.inputs' bounds) and a time, in the viewer's time zone; the moment
    they make must be to come, and within the horizon a post may be scheduled in."""

    day = BoundedDateField(
        label=gettext_lazy("Day"),
        widget=forms.DateInput(attrs={"type": "date", "class": "input"}, format="%Y-%m-%d"),
        error_messages={"required": gettext_lazy("Choose the day.")},
    )
    time = forms.TimeField(
        label=gettext_lazy("Time"),
        input_formats=["%H:%M", "%H:%M:%S"],
        widget=forms.TimeInput(attrs={"type": "time", "class": "input"}, format="%H:%M"),
        error_messages={"required": gettext_lazy("Choose the time.")},
    )

    def clean(self) -> dict:
        data = super().clean()
        day, time = data.get("day"), data.get("time")
        if day is None or time is None:
            return data
        moment = timezone.make_aware(
            datetime.combine(day, time.replace(second=0, microsecond=0)),
            timezone.get_current_timezone(),
        )
        now = timezone.now()
        if moment <= now:
            raise forms.ValidationError(
                _(
                    "That time has already passed (it is now %(now)s in your time zone). "
                    "Choose a later time."
                )
                % {"now": formats.date_format(timezone.localtime(now), "j M Y, H:i")},
                code="past",
            )
        if moment - now > timedelta(days=settings.POST_SCHEDULE_MAX_DAYS):
            raise forms.ValidationError(
                ngettext(
                    "Choose a time within the next %(days)d day.",
                    "Choose a time within the next %(days)d days.",
                    settings.POST_SCHEDULE_MAX_DAYS,
                )
                % {"days": settings.POST_SCHEDULE_MAX_DAYS},
                code="horizon",
            )
        data["moment"] = moment
        return data
