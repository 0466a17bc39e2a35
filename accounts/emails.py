"""One rule for email addresses typed into any form: at most ``EMAIL_MAX_LENGTH`` characters,
as the columns hold. Django's ``EmailValidator`` lets up to 320 through, and PostgreSQL refuses
the insert of anything past 254 (a 500), so every email form field uses ``EmailAddressField``
(or ``validate_email_length`` where the field is made elsewhere, such as a library's form).
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.models import EMAIL_MAX_LENGTH

__all__ = ["EMAIL_MAX_LENGTH", "EmailAddressField", "validate_email_length"]

_TOO_LONG = _("An email address has at most %(limit)d characters; this one has %(length)d.")


def validate_email_length(value: str) -> None:
    """Refuse, with a sentence, an address longer than the columns hold."""
    if value is not None and len(value) > EMAIL_MAX_LENGTH:
        raise ValidationError(
            _TOO_LONG,
            code="max_length",
            params={"limit": EMAIL_MAX_LENGTH, "length": len(value)},
        )


class EmailAddressField(forms.EmailField):
    """An email form field that never lets through more than the columns hold."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", EMAIL_MAX_LENGTH)
        super().__init__(**kwargs)

    def clean(self, value):
        # Our sentence (not the stock "at most N characters"), before the shape is checked.
        validate_email_length((value or "").strip() if isinstance(value, str) else value)
        return super().clean(value)
