"""The form that adds a repost rule: one source account, one or more destinations."""

from __future__ import annotations

from collections.abc import Sequence

from django import forms
from django.utils.translation import gettext_lazy as _

from posting.mirror.reposts import platform_label
from posting.models import Platform


class RepostRuleForm(forms.Form):
    """Choices are the workspace's usable platforms, by Taisly id (never our primary key),
    from one list read once, so the page's query count does not depend on the fields."""

    from_platform = forms.ChoiceField(label=_("When something is posted to"))
    to_platforms = forms.MultipleChoiceField(
        label=_("also repost it to"), widget=forms.CheckboxSelectMultiple
    )
    #: Set by the "Add anyway" button once the person has seen the circle warning.
    confirm_cycle = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, platforms: Sequence[Platform], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.platforms = {p.taisly_id: p for p in platforms}
        choices = [(p.taisly_id, platform_label(p)) for p in platforms]
        self.fields["from_platform"].choices = choices
        self.fields["to_platforms"].choices = choices
        self.fields["to_platforms"].error_messages["required"] = _(
            "Choose at least one account to repost to."
        )

    def clean(self):
        cleaned = super().clean()
        source = cleaned.get("from_platform")
        targets = cleaned.get("to_platforms") or []
        if source and source in targets:
            self.add_error("to_platforms", _("An account cannot repost to itself."))
        if source:
            cleaned["from_platform"] = self.platforms[source]
        cleaned["to_platforms"] = [self.platforms[t] for t in targets]
        return cleaned
