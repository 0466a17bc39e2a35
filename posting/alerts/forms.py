"""Forms of the alerts pages: the list's filters, a member's email choice, a webhook endpoint."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from posting.alerts.webhooks import guard
from posting.models import Alert, AlertPreference, Network, WebhookEndpoint


class AlertFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("Every kind")), *Alert.Kind.choices]
    )
    network = forms.ChoiceField(
        label=_("Network"), required=False, choices=[("", _("Every network")), *Network.choices]
    )
    unread = forms.BooleanField(label=_("Unread only"), required=False)


class AlertEmailForm(forms.Form):
    email = forms.ChoiceField(
        label=_("Alert emails for this workspace"),
        choices=AlertPreference.Email.choices,
        widget=forms.RadioSelect,
    )


class WebhookForm(forms.Form):
    url = forms.URLField(
        label=_("URL"),
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"class": "input", "placeholder": "https://"}),
        help_text=_("Where alerts are sent: your service, or a Slack incoming-webhook URL."),
    )
    format = forms.ChoiceField(
        label=_("Format"),
        choices=WebhookEndpoint.Format.choices,
        initial=WebhookEndpoint.Format.JSON,
        widget=forms.RadioSelect,
    )
    events = forms.MultipleChoiceField(
        label=_("Events"),
        required=False,
        choices=Alert.Kind.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None chosen: every kind of alert."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The rule depends on the settings (development takes http:// to loopback): the help
        # says the one this server applies, not always "https://".
        self.fields["url"].help_text = f"{self.fields['url'].help_text} {guard.rule()}"
