from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import TaislyConnection
from accounts.taisly_key import is_key_shaped


class ConnectKeyForm(forms.Form):
    """The owner pastes a key. The key is never rendered back: not as a value, not in errors."""

    api_key = forms.CharField(
        label=_("Taisly API key"),
        max_length=300,
        strip=True,
        widget=forms.PasswordInput(
            render_value=False,
            attrs={
                "autocomplete": "off",
                "autocapitalize": "off",
                "spellcheck": "false",
                "placeholder": "taisly_…",
                "class": "input",
            },
        ),
        help_text=_(
            "Copy it from your Taisly account; it starts with taisly_. It is checked with Taisly "
            "before it is saved, then stored encrypted and shown only as its last four characters."
        ),
    )
    plan = forms.ChoiceField(
        label=_("Plan"),
        required=False,
        choices=[("", _("Detect from Taisly"))] + list(TaislyConnection.Plan.choices),
        help_text=_("Used only when Taisly does not say which plan the key is on."),
    )

    def clean_api_key(self) -> str:
        # Whitespace pasted inside the key (a line break from a chat message) is not part of it.
        value = "".join(self.cleaned_data["api_key"].split())
        if not is_key_shaped(value):
            raise forms.ValidationError(
                _(
                    "This does not look like a Taisly key: it starts with taisly_ followed by "
                    "letters and digits."
                ),
                code="shape",
            )
        return value
