"""The compose form. The video itself is checked in ``posting.sending.probe``; this form checks the
rest (platforms, caption length per network, when) and normalises it for ``receive.post_create``."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django import forms
from django.conf import settings
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.inputs import BoundedDateTimeField
from posting.models import DESCRIPTION_LIMIT, VIDEO_MAX_SECONDS, Platform, description_limit


def description_too_long_sentence(network: str, limit, count) -> str:
    return _(
        "%(network)s takes at most %(limit)s characters; this description has %(count)s. "
        "Shorten it or do not post to %(network)s."
    ) % {"network": network, "limit": limit, "count": count}


class ComposeForm(forms.Form):
    WHEN_NOW = "now"
    WHEN_LATER = "later"

    token = forms.UUIDField(widget=forms.HiddenInput)
    platforms = forms.ModelMultipleChoiceField(
        queryset=Platform.objects.none(),
        to_field_name="taisly_id",
        label=gettext_lazy("Post to"),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": gettext_lazy("Choose at least one account to post to.")},
    )
    description = forms.CharField(
        label=gettext_lazy("Description"),
        required=False,
        max_length=DESCRIPTION_LIMIT,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    when = forms.ChoiceField(
        label=gettext_lazy("When"),
        choices=[(WHEN_NOW, gettext_lazy("Post now")), (WHEN_LATER, gettext_lazy("Schedule"))],
        initial=WHEN_NOW,
        widget=forms.RadioSelect,
    )
    scheduled_at = BoundedDateTimeField(
        label=gettext_lazy("Date and time"),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local", "class": "input"}, format="%Y-%m-%dT%H:%M"
        ),
    )
    cover_second = forms.FloatField(
        label=gettext_lazy("Cover frame (seconds into the video)"),
        required=False,
        min_value=0,
        max_value=VIDEO_MAX_SECONDS,
        initial=0,
        widget=forms.NumberInput(
            attrs={"step": "0.1", "min": "0", "max": f"{VIDEO_MAX_SECONDS:g}"}
        ),
    )
    video = forms.FileField(
        label=gettext_lazy("Video"),
        error_messages={"required": gettext_lazy("Choose a video to upload.")},
        widget=forms.ClearableFileInput(
            attrs={"accept": "video/*,.mp4,.mov,.mkv,.webm,.avi,.flv,.mpeg,.mpg"}
        ),
    )

    def __init__(self, *args, workspace, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.fields["platforms"].queryset = Platform.objects.filter(
            workspace=workspace, connected=True, gone_at__isnull=True
        )
        if not self.is_bound:
            self.initial.setdefault("token", uuid.uuid4())
        self.fields["token"].error_messages["required"] = _(
            "This form is missing its one-time id. Reload the page and try again."
        )
        self.fields["token"].error_messages["invalid"] = self.fields["token"].error_messages[
            "required"
        ]

    def clean_cover_second(self) -> float:
        return self.cleaned_data.get("cover_second") or 0.0

    def clean(self) -> dict:
        data = super().clean()
        description = data.get("description") or ""
        for platform in data.get("platforms") or ():
            limit = description_limit(platform.network)
            if len(description) > limit:
                self.add_error(
                    "description",
                    description_too_long_sentence(platform.network, limit, len(description)),
                )
        if data.get("when") == self.WHEN_LATER:
            moment: datetime | None = data.get("scheduled_at")
            if moment is None:
                if "scheduled_at" not in self.errors:
                    self.add_error("scheduled_at", _("Choose the date and time to post at."))
            elif moment - timezone.now() > timedelta(days=settings.POST_SCHEDULE_MAX_DAYS):
                self.add_error(
                    "scheduled_at",
                    ngettext(
                        "Choose a time within the next %(days)d day.",
                        "Choose a time within the next %(days)d days.",
                        settings.POST_SCHEDULE_MAX_DAYS,
                    )
                    % {"days": settings.POST_SCHEDULE_MAX_DAYS},
                )
            elif moment <= timezone.now():
                now = timezone.localtime()
                self.add_error(
                    "scheduled_at",
                    _(
                        "That time has already passed (it is now %(now)s in your time zone). "
                        "Choose a later time, or post now."
                    )
                    % {"now": formats.date_format(now, "j M Y, H:i")},
                )
        else:
            data["scheduled_at"] = None
        return data
