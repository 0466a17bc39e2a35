"""Filters of the oversight pages (GET forms: a bad value is named beside its field and the
filter it belonged to is left out, never a 500)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.inputs import BoundedDateField
from accounts.models import AuditEvent, TaislyConnection

NO_KEY = "none"


class HealthFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Name, member email or code")}
        ),
    )
    plan = forms.ChoiceField(
        label=_("Plan"),
        required=False,
        choices=[("", _("Any plan")), *TaislyConnection.Plan.choices],
    )
    key = forms.ChoiceField(
        label=_("Taisly key"),
        required=False,
        choices=[
            ("", _("Any key status")),
            *TaislyConnection.Status.choices,
            (NO_KEY, _("Not connected")),
        ],
    )
    failing = forms.BooleanField(label=_("Failing"), required=False)
    stale = forms.BooleanField(label=_("Stale sync"), required=False)
    blocked = forms.BooleanField(label=_("Blocked"), required=False)


class AuditFilterForm(forms.Form):
    actor = forms.CharField(label=_("Who (email)"), required=False, max_length=254)
    action = forms.ChoiceField(
        label=_("What"), required=False, choices=[("", _("Any action")), *AuditEvent.Action.choices]
    )
    workspace = forms.CharField(label=_("Workspace (name or code)"), required=False, max_length=100)
    since = BoundedDateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = BoundedDateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    #: Set by clean() when From is after To (both dates are then left out).
    reversed_range = False

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end date is before the start date."))
            # No day is in a reversed range: both dates are left out (and the page says so),
            # so the log stays in view rather than an empty list from the later date on.
            data.pop("since", None)
            self.reversed_range = True
        return data
