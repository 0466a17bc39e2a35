"""Signing in, by django-allauth: its views, with what is ours on top.

- sign-up knows the invitation it came from (``?invitation=<token>``), answers 403 when closed;
- a form that fails answers 422 (429 when too many log-in attempts were made): log-in,
  sign-up, password change and reset;
- sign-up answers "we sent you a link" whether or not the address has an account (allauth's
  enumeration prevention); the new account is logged in once it follows that link;
- a verification link works only in a browser logged in as its account (or the one that just
  signed up as it), so a stranger who signed up with someone else's address cannot get it
  verified by that person's click;
- "send the link again", and an owner's "require two-factor sign-in" for a workspace.
"""

from __future__ import annotations

from allauth.account import views as allauth_views
from allauth.account.app_settings import EmailVerificationMethod
from allauth.account.internal.flows.email_verification import send_verification_email_for_user
from allauth.account.models import get_emailconfirmation_model
from allauth.account.stages import EmailVerificationStage, LoginStageController
from allauth.account.utils import complete_signup, get_next_redirect_url
from allauth.core.exceptions import ImmediateHttpResponse
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import services
from accounts.access import get_workspace_for_owner
from accounts.adapter import invitation_from_request
from accounts.forms import TwoFactorRequirementForm
from accounts.signals import remember_email_verified


def _status_for(form) -> int:
    codes = {error.code for errors in form.errors.as_data().values() for error in errors}
    return 429 if "too_many_login_attempts" in codes else 422


class RefusedFormMixin:
    """A form that fails validation answers 422 (429 for too many log-in attempts)."""

    def form_invalid(self, form):
        response = super().form_invalid(form)
        response.status_code = _status_for(form)
        return response


class LoginView(RefusedFormMixin, allauth_views.LoginView):
    pass


class PasswordChangeView(RefusedFormMixin, allauth_views.PasswordChangeView):
    pass


class PasswordResetView(RefusedFormMixin, allauth_views.PasswordResetView):
    pass


class SignupView(RefusedFormMixin, allauth_views.SignupView):
    def dispatch(self, request, *args, **kwargs):
        self.invitation = invitation_from_request(request)
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict:
        return {**super().get_form_kwargs(), "invitation": self.invitation}

    def get_context_data(self, **kwargs) -> dict:
        return {**super().get_context_data(**kwargs), "invitation": self.invitation}

    def form_valid(self, form):
        """A new address and a taken one get the same answer: "we sent you a link" (so nobody
        learns from sign-up who has an account here). The new account is not logged in until
        its owner follows that link (or logs in), as allauth does when sign-up waits for
        verification; afterwards an unverified account may still log in ("optional")."""
        if self.invitation is not None and form.invitation is not None:
            messages.info(
                self.request,
                _("Almost there: follow the link we emailed to %(email)s to join “%(name)s”.")
                % {"email": self.invitation.email, "name": self.invitation.workspace.name},
            )
        self.user, response = form.try_save(self.request)
        if response is not None:
            return response
        try:
            return complete_signup(
                self.request,
                self.user,
                EmailVerificationMethod.MANDATORY,
                # None: decided once the link is followed (the workspace it joined, if any).
                get_next_redirect_url(self.request),
            )
        except ImmediateHttpResponse as exc:
            return exc.response

    def closed(self):
        response = super().closed()
        response.status_code = 403
        return response


class ConfirmEmailView(allauth_views.ConfirmEmailView):
    """allauth's confirmation page, for the account's own session only."""

    def dispatch(self, request, *args, **kwargs):
        confirmation = get_emailconfirmation_model().from_key(kwargs["key"])
        if confirmation is not None:
            owner_id = confirmation.email_address.user_id
            if not request.user.is_authenticated and _signing_up_as(request, owner_id):
                # The browser that just signed up as this account: allauth confirms and logs
                # it in (only here: the session holds that sign-up, not just the link).
                return super().dispatch(request, *args, **kwargs)
            if not request.user.is_authenticated:
                address = confirmation.email_address
                if address.email.lower() != address.user.email.lower():
                    # An address some account asked to change to: resetting a password does
                    # not reach that account through it (accounts.forms.ResetPasswordForm).
                    text = _(
                        "Log in to confirm your email address. If you did not ask for this, "
                        "ignore the email: the address is not added to any account until it is "
                        "confirmed."
                    )
                else:
                    text = _(
                        "Log in to confirm your email address. If you never made an account "
                        "here, someone else used your address: reset the password to take the "
                        "account over, or ignore the email."
                    )
                messages.info(request, text)
                return redirect_to_login(request.get_full_path())
            if request.user.pk != owner_id:
                return render(
                    request,
                    "account/email_confirm_other_account.html",
                    {"email": confirmation.email_address.email},
                    status=403,
                )
        return super().dispatch(request, *args, **kwargs)


def _signing_up_as(request: HttpRequest, user_id) -> bool:
    """Whether this session is the sign-up of ``user_id``, waiting for its address."""
    stage = LoginStageController.enter(request, EmailVerificationStage.key)
    return stage is not None and stage.login.user is not None and stage.login.user.pk == user_id


@login_required
@require_POST
def email_verification_resend(request: HttpRequest) -> HttpResponse:
    """The banner's "send the link again" button."""
    if services.email_verified(user=request.user):
        remember_email_verified(request, request.user)  # confirmed in another browser
        messages.info(request, _("Your email address is already confirmed."))
    elif send_verification_email_for_user(request, request.user):
        messages.success(
            request,
            _("We sent a new link to %(email)s. It works for 3 days.")
            % {"email": request.user.email},
        )
    else:
        messages.info(
            request,
            _("A link was sent to %(email)s a moment ago: check your inbox (and spam folder).")
            % {"email": request.user.email},
        )
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = "home"
    return redirect(back)


@login_required
@require_POST
def workspace_require_2fa(request: HttpRequest, code) -> HttpResponse:
    """An owner requires (or stops requiring) two-factor sign-in of every member."""
    access = get_workspace_for_owner(request, code)
    form = TwoFactorRequirementForm(request.POST)
    form.is_valid()  # a checkbox: absent means off
    required = form.cleaned_data.get("require_2fa", False)
    try:
        services.workspace_set_require_2fa(
            workspace=access.workspace, required=required, actor=request.user, request=request
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("Every member now needs two-factor sign-in to open this workspace.")
            if required
            else _("Two-factor sign-in is now up to each member."),
        )
    return redirect("accounts:workspace_settings", code=access.workspace.code)
