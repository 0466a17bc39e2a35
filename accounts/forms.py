"""Forms for people and workspaces. Forms parse and normalise; services decide."""

from __future__ import annotations

import uuid
import zoneinfo

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm, BaseUserCreationForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.emails import EmailAddressField
from accounts.models import Membership, User, Workspace, timezone_choices


def axes_username(request: HttpRequest, credentials: dict | None = None) -> str:
    """The login name django-axes counts failures against: the email, trimmed and lowercased.

    Without this, ``Alice@x`` and ``alice@x`` would each get their own five attempts.
    """
    raw = (credentials or {}).get("username")
    if raw is None and request is not None:
        raw = request.POST.get("username", "")
    # Cut to what axes can store (255 characters): a longer name would fail its insert with a 500.
    return (raw or "").strip().lower()[:255]


class BulmaFormMixin:
    """Adds Bulma's classes to widgets, so templates render fields with one include."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput | forms.RadioSelect | forms.HiddenInput):
                continue
            if isinstance(widget, forms.Select):
                continue  # a <select> is wrapped in <div class="select"> by the template
            css = "textarea" if isinstance(widget, forms.Textarea) else "input"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


def _valid_timezone(value: str) -> str:
    value = (value or "").strip()
    return value if value in zoneinfo.available_timezones() else "UTC"


class EmailAuthenticationForm(AuthenticationForm):
    """Django's login form with our own sentence for a failed login (the stock one speaks of a
    "username", and its Indonesian reads awkwardly)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _(
            "Please enter a correct email and password. The password is case-sensitive."
        ),
    }


class SignUpForm(BulmaFormMixin, BaseUserCreationForm):
    """Email, an optional display name and a password (the password validators apply)."""

    display_name = forms.CharField(
        label=_("Your name"),
        max_length=100,
        required=False,
        help_text=_("Shown to the people you work with. Optional."),
    )
    # Filled by static/js/app.js from the browser's time zone; UTC without JavaScript.
    timezone = forms.CharField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = User
        fields = ("email", "display_name")
        labels = {"email": _("Email")}

    def __init__(self, *args, locked_email: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.locked_email = locked_email
        self.fields["email"].widget.attrs.update({"autocomplete": "email", "autofocus": True})
        self.fields["password1"].label = _("Password")
        self.fields["password2"].label = _("Password again")
        self.fields["timezone"].widget.attrs["data-browser-timezone"] = "true"
        if locked_email:
            # Joining through an invitation: the account is for the address it was sent to.
            self.fields["email"].initial = locked_email
            self.fields["email"].widget.attrs["readonly"] = True

    def clean_email(self) -> str:
        email = (self.cleaned_data.get("email") or "").strip().lower()
        if self.locked_email and email != self.locked_email.lower():
            raise forms.ValidationError(
                _("This invitation was sent to %(email)s: sign up with that address."),
                params={"email": self.locked_email},
            )
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                _("An account with this email already exists. Log in instead.")
            )
        return email

    def clean_timezone(self) -> str:
        return _valid_timezone(self.cleaned_data.get("timezone", ""))


class ProfileForm(BulmaFormMixin, forms.ModelForm):
    timezone = forms.ChoiceField(
        label=_("Time zone"),
        choices=timezone_choices,
        help_text=_("Every time is shown, and every schedule entered, in this time zone."),
    )
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)

    class Meta:
        model = User
        fields = ("display_name", "timezone", "language")
        labels = {"display_name": _("Your name")}


class WorkspaceNameForm(BulmaFormMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError(_("Give the workspace a name."))
        return name


class WorkspaceDeleteForm(BulmaFormMixin, forms.Form):
    confirm_name = forms.CharField(label=_("Type the workspace's name to confirm"), max_length=100)

    def __init__(self, *args, workspace: Workspace, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.fields["confirm_name"].widget.attrs["autocomplete"] = "off"

    def clean_confirm_name(self) -> str:
        value = " ".join(self.cleaned_data["confirm_name"].split())
        if value != self.workspace.name:
            raise forms.ValidationError(_("That is not the workspace's name."))
        return value


class InviteForm(BulmaFormMixin, forms.Form):
    email = EmailAddressField(label=_("Email"))
    role = forms.ChoiceField(
        label=_("Role"), choices=Membership.Role.choices, initial=Membership.Role.VIEWER
    )
    # New for every blank form, carried through re-renders: it identifies one press of "Send".
    submission = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4, required=False)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Membership.Role.choices)


class AccountDeleteForm(BulmaFormMixin, forms.Form):
    """Deleting one's own account asks for the password again."""

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("That is not your password."), code="password")
        return password
