"""The compose form, the draft form and the edit form. The video itself is checked in
``posting.sending.probe``; these check the rest (platforms, the caption for all and any caption
per network, each within its network's length, when) and normalise it for the services
(``receive.post_create``, ``drafts``, ``edits``).

A caption per network: a checkbox ("A different caption for some networks", a CSS toggle that
needs no JavaScript) and one field per network of the workspace (``caption_<network>``); an
empty one takes the caption for all. Only when the box is ticked do they count."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django import forms
from django.conf import settings
from django.utils import formats, timezone
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.inputs import BoundedDateTimeField
from posting.models import (
    DESCRIPTION_LIMIT,
    VIDEO_MAX_SECONDS,
    Platform,
    PostingSlot,
    description_limit,
)
from posting.sending.slots import no_slots_sentence


def description_too_long_sentence(network: str, limit, count) -> str:
    return _(
        "%(network)s takes at most %(limit)s characters; this description has %(count)s. "
        "Shorten it or do not post to %(network)s."
    ) % {"network": network, "limit": limit, "count": count}


CAPTION_PREFIX = "caption_"


class PostFieldsForm(forms.Form):
    """What every post form asks: accounts, captions, when, cover (and a one-time id)."""

    WHEN_NOW = "now"
    WHEN_LATER = "later"
    #: "Add to queue": the workspace's next free posting slot (``posting.sending.slots``),
    #: chosen by the service under the workspace's lock; ``cleaned_data["queue"]`` is True.
    WHEN_QUEUE = "queue"

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
        choices=[
            (WHEN_NOW, gettext_lazy("Post now")),
            (WHEN_LATER, gettext_lazy("Schedule")),
            (WHEN_QUEUE, gettext_lazy("Add to queue")),
        ],
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
    separate_captions = forms.BooleanField(
        label=gettext_lazy("A different caption for some networks"), required=False
    )

    def __init__(self, *args, workspace, networks: list[str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        # The browser refuses a time past the horizon before the video is uploaded; clean()
        # checks it again. (No ``min``: a draft's passed time, hidden behind "Post now", would
        # block the form without a visible reason.)
        horizon = timezone.localtime() + timedelta(days=settings.POST_SCHEDULE_MAX_DAYS)
        self.fields["scheduled_at"].widget.attrs["max"] = horizon.strftime("%Y-%m-%dT%H:%M")
        self.fields["platforms"].queryset = Platform.objects.filter(
            workspace=workspace, connected=True, gone_at__isnull=True
        )
        #: The networks that may have a caption of their own: those of the workspace's usable
        #: accounts (one query, unless the caller knows them).
        if networks is None:
            networks = sorted(
                set(self.fields["platforms"].queryset.values_list("network", flat=True))
            )
        self.networks = [n for n in networks if n]
        for network in self.networks:
            self.fields[CAPTION_PREFIX + network] = forms.CharField(
                label=_("Caption for %(network)s") % {"network": network},
                required=False,
                max_length=DESCRIPTION_LIMIT,
                widget=forms.Textarea(attrs={"rows": 2}),
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

    def caption_fields(self) -> list[tuple[str, forms.BoundField]]:
        """(network, its caption field) for each network that may have its own caption."""
        return [(network, self[CAPTION_PREFIX + network]) for network in self.networks]

    def clean(self) -> dict:
        data = super().clean()
        description = data.get("description") or ""
        captions = {}
        if data.get("separate_captions"):
            for network in self.networks:
                own = (data.get(CAPTION_PREFIX + network) or "").strip()
                if own:
                    captions[network] = own
        data["captions"] = captions
        # Each network's own caption is held to its own limit (X's 100 characters bind X's
        # caption only); the caption for all to the limit of every network that takes it.
        told = set()
        for platform in data.get("platforms") or ():
            limit = description_limit(platform.network)
            own = captions.get(platform.network)
            text = own if own else description
            if len(text) > limit and platform.network not in told:
                told.add(platform.network)
                field = CAPTION_PREFIX + platform.network if own else "description"
                self.add_error(
                    field, description_too_long_sentence(platform.network, limit, len(text))
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
        data["queue"] = data.get("when") == self.WHEN_QUEUE
        if data["queue"] and not PostingSlot.objects.filter(workspace=self.workspace).exists():
            # Said before anything is sent; the service decides again under the lock.
            self.add_error("when", no_slots_sentence())
        return data


class ComposeForm(PostFieldsForm):
    video = forms.FileField(
        label=gettext_lazy("Video"),
        error_messages={"required": gettext_lazy("Choose a video to upload.")},
        widget=forms.ClearableFileInput(
            attrs={"accept": "video/*,.mp4,.mov,.mkv,.webm,.avi,.flv,.mpeg,.mpg"}
        ),
    )


class DraftForm(PostFieldsForm):
    """A draft's page: everything may change; a new video replaces the kept one."""

    video = forms.FileField(
        label=gettext_lazy("Replace the video"),
        required=False,
        widget=forms.ClearableFileInput(
            attrs={"accept": "video/*,.mp4,.mov,.mkv,.webm,.avi,.flv,.mpeg,.mpg"}
        ),
    )


class EditForm(PostFieldsForm):
    """A scheduled post's edit: captions, accounts, time and cover (the video stays). It stays
    scheduled: the time is required."""

    def clean(self) -> dict:
        self.cleaned_data["when"] = self.WHEN_LATER
        return super().clean()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["when"].required = False
        self.fields["when"].choices = [(self.WHEN_LATER, _("Schedule"))]
        self.fields["scheduled_at"].required = True
        self.fields["scheduled_at"].error_messages["required"] = _(
            "Choose the date and time to post at."
        )


def initial_from(post_or_draft, platforms, captions: dict, *, when: str) -> dict:
    """A form's initial values from a post's group or a draft."""
    initial = {
        "platforms": [p.taisly_id for p in platforms],
        "description": post_or_draft.description,
        "cover_second": post_or_draft.cover_second,
        "when": when,
        "separate_captions": bool(captions),
    }
    if post_or_draft.scheduled_at:
        initial["scheduled_at"] = timezone.localtime(post_or_draft.scheduled_at)
    for network, caption in captions.items():
        initial[CAPTION_PREFIX + network] = caption
    return initial


class SlotForm(forms.Form):
    """Add posting slots: one clock time on any weekdays ("Mon–Fri 09:00" is one submit)."""

    weekdays = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Days"),
        choices=[(day, WEEKDAYS[day]) for day in range(7)],
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": gettext_lazy("Choose at least one day.")},
    )
    time = forms.TimeField(
        label=gettext_lazy("Time"),
        input_formats=["%H:%M", "%H:%M:%S"],
        widget=forms.TimeInput(attrs={"type": "time", "class": "input"}, format="%H:%M"),
        error_messages={
            "required": gettext_lazy("Choose a time of day, such as 09:00."),
            "invalid": gettext_lazy("Enter a time of day as hours and minutes, such as 09:00."),
        },
    )
