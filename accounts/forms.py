"""Forms for people and workspaces. Forms parse and normalise; services decide."""

from __future__ import annotations

import uuid
import zoneinfo

from allauth.account.adapter import get_adapter
from allauth.account.app_settings import EmailVerificationMethod
from allauth.account.forms import LoginForm as AllauthLoginForm
from allauth.account.forms import ResetPasswordForm as AllauthResetPasswordForm
from allauth.account.forms import SignupForm as AllauthSignupForm
from allauth.account.models import EmailAddress
from allauth.account.utils import filter_users_by_email, perform_login
from allauth.mfa.base.forms import AuthenticateForm as AllauthTwoFactorForm
from allauth.mfa.base.forms import ReauthenticateForm as AllauthTwoFactorReauthForm
from django import forms
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.emails import EmailAddressField, validate_email_length
from accounts.models import (
    EMAIL_MAX_LENGTH,
    Invitation,
    Membership,
    User,
    Workspace,
    timezone_choices,
)


class BulmaFormMixin:
    """Adds Bulma's classes to widgets, so templates render fields with one include.

    ``refuse_overlong``: the names of text fields whose ``maxlength`` attribute is left out, so
    that a name longer than the field allows is refused with a sentence ("at most 100
    characters") instead of being cut by the browser without a word (a pasted name lost its
    end). The server's limit stays the same."""

    refuse_overlong: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in self.refuse_overlong:
            self.fields[name].widget.attrs.pop("maxlength", None)
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


class LoginForm(AllauthLoginForm):
    """allauth's log-in form, labelled as ours were (the login is an email address)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["login"].label = _("Email")
        self.fields["login"].widget.attrs.update(
            {"autocomplete": "email", "autofocus": True, "placeholder": ""}
        )
        self.fields["password"].widget.attrs["placeholder"] = ""
        self.fields["password"].help_text = ""  # the page has its own "Forgotten your password?"

    def clean_login(self) -> str:
        login = super().clean_login()
        if len(login) > EMAIL_MAX_LENGTH:
            # No account has such an address: the same answer as a wrong password, no lookup.
            raise get_adapter().validation_error("email_password_mismatch")
        return login


class ResetPasswordForm(AllauthResetPasswordForm):
    def clean_email(self) -> str:
        # No account has a longer address: say so, rather than email it that it has none.
        validate_email_length((self.cleaned_data.get("email") or "").strip())
        email = super().clean_email()
        # allauth also finds an account by an address it has only asked to change to (not yet
        # verified): whoever owns that address (a typo, someone else's) could reset the
        # account's password and take it. Only the account's own address, or one it verified.
        verified = set(
            EmailAddress.objects.filter(email__iexact=email, verified=True).values_list(
                "user_id", flat=True
            )
        )
        self.users = [
            user
            for user in self.users
            if user.email.lower() == email.lower() or user.pk in verified
        ]
        return email


class SignUpForm(BulmaFormMixin, AllauthSignupForm):
    """Email, an optional display name and a password (the password validators apply).

    From an invitation link the address is the invited one: the account is for that address,
    and it joins once that address is verified.
    """

    display_name = forms.CharField(
        label=_("Your name"),
        max_length=100,
        required=False,
        help_text=_("Shown to the people you work with. Optional."),
    )
    # Filled by static/js/app.js from the browser's time zone; UTC without JavaScript.
    timezone = forms.CharField(required=False, widget=forms.HiddenInput)
    field_order = ["email", "display_name", "password1", "password2", "timezone"]
    refuse_overlong = ("display_name",)

    def __init__(self, *args, invitation: Invitation | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.invitation = invitation
        self.fields["email"].label = _("Email")
        self.fields["email"].widget.attrs.update(
            {"autocomplete": "email", "autofocus": True, "placeholder": ""}
        )
        self.fields["password1"].label = _("Password")
        self.fields["password2"].label = _("Password again")
        for name in ("password1", "password2"):
            self.fields[name].widget.attrs["placeholder"] = ""
        self.fields["timezone"].widget.attrs["data-browser-timezone"] = "true"
        if invitation is not None:
            self.fields["email"].initial = invitation.email
            self.fields["email"].widget.attrs["readonly"] = True

    def clean_email(self) -> str:
        email = (self.cleaned_data.get("email") or "").strip().lower()
        if self.invitation is not None and email != self.invitation.email.lower():
            raise forms.ValidationError(
                _("This invitation was sent to %(email)s: sign up with that address."),
                params={"email": self.invitation.email},
            )
        self.cleaned_data["email"] = email
        return super().clean_email()

    def clean_timezone(self) -> str:
        return _valid_timezone(self.cleaned_data.get("timezone", ""))

    def validate_unique_email(self, value: str) -> str:
        # allauth hides a taken address only when sign-up waits for verification, which ours
        # does (accounts.views_auth.SignupView): the form goes through as for a new address.
        self.account_already_exists = len(filter_users_by_email(value)) > 0
        return get_adapter().validate_unique_email(value)

    def try_save(self, request: HttpRequest):
        """(the new user, None); or, for a taken address, (None, the answer a new address
        gets), with an email to the address's owner instead of an account. The taken address
        hashes the password too (and throws the hash away): hashing is most of a new account's
        time, so without it a quick answer would tell who has an account here."""
        if self.account_already_exists:
            make_password(self.cleaned_data["password1"])
            return None, _answer_taken_address(request, self.cleaned_data["email"])
        try:
            with transaction.atomic():
                return super().try_save(request)
        except IntegrityError:
            if not User.objects.filter(email__iexact=self.cleaned_data["email"]).exists():
                raise
            # The other click of a double click made this account a moment ago: the same
            # answer as any taken address.
            return None, _answer_taken_address(request, self.cleaned_data["email"])

    def custom_signup(self, request: HttpRequest, user: User) -> None:
        if self.invitation is not None:
            services.invitation_hold(invitation=self.invitation, user=user)


def _answer_taken_address(request: HttpRequest, email: str):
    """allauth's own answer to a sign-up with a taken address under verification: the owner is
    emailed that someone tried (with links to log in or reset the password; at most once per
    address per allauth's verification-email rate limit), and the page says a link was sent."""
    return perform_login(
        request,
        None,
        email_verification=EmailVerificationMethod.MANDATORY,
        signup=True,
        email=email,
    )


class _RecoveryCodeHint:
    """allauth's code field takes a recovery code too, but its page only asks for the app's
    code: someone who lost their phone is told what else works."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].help_text = _(
            "Lost your phone? Enter one of your recovery codes instead."
        )


class TwoFactorCodeForm(_RecoveryCodeHint, AllauthTwoFactorForm):
    pass


class TwoFactorReauthenticateForm(_RecoveryCodeHint, AllauthTwoFactorReauthForm):
    pass


class TwoFactorRequirementForm(forms.Form):
    require_2fa = forms.BooleanField(
        label=_("Require two-factor sign-in of every member"), required=False
    )


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

    refuse_overlong = ("display_name",)


class WorkspaceNameForm(BulmaFormMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    refuse_overlong = ("name",)

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError(_("Give the workspace a name."))
        return name


class WorkspaceTimeZoneForm(BulmaFormMixin, forms.Form):
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        choices=timezone_choices,
        help_text=_(
            "The workspace's posting slots are in this time zone, whoever looks at them. Posts "
            "already scheduled keep their time."
        ),
    )


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
