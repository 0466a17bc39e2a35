"""How django-allauth fits this project: who may sign up, what a new account starts with, and the
sentences a failed log-in gets.

    invitation link ─► /signup/?invitation=<token> ─► account (unverified) + invitation held for it
    verification link, opened logged in as that account ─► address verified ─► held invitation
    accepted (accounts.signals) ─► the workspace
"""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from allauth.core import context
from allauth.mfa.adapter import DefaultMFAAdapter
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import crypto, services
from accounts.emails import validate_email_length
from accounts.models import Invitation


def invitation_from_request(request: HttpRequest | None) -> Invitation | None:
    """The live invitation named by ``?invitation=<token>``, if any."""
    token = request.GET.get("invitation", "") if request is not None else ""
    if not token:
        return None
    invitation = services.invitation_for_token(token=token)
    if invitation is None or services.invitation_problem(invitation=invitation):
        return None
    return invitation


class AccountAdapter(DefaultAccountAdapter):
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        # The sentence the hand-written login had (and its translation).
        "email_password_mismatch": gettext_lazy(
            "Please enter a correct email and password. The password is case-sensitive."
        ),
        "email_taken": gettext_lazy("An account with this email already exists. Log in instead."),
    }

    # allauth's own notes that the page already says: the navbar names who is signed in, and the
    # banner says a link was sent.
    QUIET_MESSAGES = frozenset(
        {"account/messages/logged_in.txt", "account/messages/email_confirmation_sent.txt"}
    )

    def add_message(self, request, level, message_template=None, *args, **kwargs) -> None:
        if message_template in self.QUIET_MESSAGES:
            return
        super().add_message(request, level, message_template, *args, **kwargs)

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        """Closed deployments still let an invited person make an account, from the link."""
        return settings.ACCOUNT_SIGNUP_OPEN or invitation_from_request(request) is not None

    def save_user(self, request: HttpRequest, user, form, commit: bool = True):
        """Name, time zone and language are set before the first save, so the personal workspace
        (made by the post_save signal) is named after the person."""
        user = super().save_user(request, user, form, commit=False)
        data = form.cleaned_data
        user.display_name = (data.get("display_name") or "").strip()
        user.timezone = data.get("timezone") or "UTC"
        language = getattr(request, "LANGUAGE_CODE", settings.LANGUAGE_CODE)
        user.language = language if language in dict(settings.LANGUAGES) else "en"
        if commit:
            with transaction.atomic():  # the account and its personal workspace, or neither
                user.save()
        return user

    def clean_email(self, email: str) -> str:
        """Sign-up and email change: at most what the column holds (allauth's fields take 320)."""
        validate_email_length(email)
        return super().clean_email(email)

    def validation_error(self, code: str, *args) -> ValidationError:
        if code == "too_many_login_attempts":
            return ValidationError(
                _(
                    "Too many attempts to log in as this address. Try again in %(minutes)s "
                    "minutes, or reset your password."
                )
                % {"minutes": settings.LOGIN_COOLOFF_MINUTES},
                code=code,
            )
        return super().validation_error(code, *args)

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        # Following the link in the browser that signed up also logs in; straight to the
        # workspace whose held invitation that just completed.
        joined = getattr(request, "joined_workspace", None)
        if joined is not None:
            return reverse("accounts:workspace", kwargs={"code": joined.code})
        return super().get_signup_redirect_url(request)

    def get_email_verification_redirect_url(self, email_address) -> str:
        # Confirming the address just completed an invitation: go to that workspace.
        joined = getattr(self.request, "joined_workspace", None)
        if joined is not None:
            return reverse("accounts:workspace", kwargs={"code": joined.code})
        return super().get_email_verification_redirect_url(email_address)


class MFAAdapter(DefaultMFAAdapter):
    """allauth keeps each TOTP secret and recovery-code seed in ``Authenticator.data``: they
    are stored encrypted under TAISLY_DASH_ENCRYPTION_KEYS, as the Taisly keys are
    (``accounts.mfa_secrets``; ``rotate_encryption_keys`` re-encrypts them)."""

    def encrypt(self, text: str) -> str:
        return crypto.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        # A value no configured key reads raises: it never passes for the secret itself.
        return crypto.decrypt(encrypted_text)

    def validation_error(self, code: str, *args) -> ValidationError:
        # allauth refuses two-factor while any address is unconfirmed, and says "until you have
        # verified your email address": untrue for someone whose address is verified but who
        # asked to change it. Name the pending address and the two ways out.
        if code == "unverified_email":
            pending = self._pending_email_change()
            if pending is not None:
                link = format_html(
                    '<a href="{}">{}</a>', reverse("account_email"), _("the email page")
                )
                message = format_html(
                    _(
                        "You asked to change your email address to {address}. Confirm it with "
                        "the link we sent there, or cancel the change on {email_page}; then you "
                        "can turn on two-factor sign-in."
                    ),
                    address=pending,
                    email_page=link,
                )
                return ValidationError(message, code=code)
        return super().validation_error(code, *args)

    @staticmethod
    def _pending_email_change() -> str | None:
        """The unconfirmed address of someone who also has a verified one (an email change
        waiting for its link), else None."""
        user = getattr(context.request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        addresses = list(EmailAddress.objects.filter(user_id=user.pk).order_by("pk"))
        if not any(address.verified for address in addresses):
            return None
        pending = [address.email for address in addresses if not address.verified]
        return pending[0] if pending else None
