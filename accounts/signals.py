"""Every new account gets a personal workspace, however it is created; and a verified address
completes the invitations its account was waiting for.

A signal rather than a step in the sign-up view, so that it holds for sign-up, the admin,
``createsuperuser``, the demo seed and test fixtures alike.
"""

from __future__ import annotations

from allauth.account.signals import email_changed, email_confirmed
from django.contrib import messages
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils.translation import gettext as _

from accounts.models import User


@receiver(post_save, sender=User, dispatch_uid="accounts.personal_workspace")
def create_personal_workspace(sender, instance: User, created: bool, raw: bool, **kwargs) -> None:
    if not created or raw:  # raw: loading a fixture, which brings its own rows
        return
    from accounts.services import workspace_create_personal

    workspace_create_personal(user=instance)


# --- Verified addresses -----------------------------------------------------------------------
# Whether the signed-in account's address is verified, kept in the session so that the banner
# costs no query on each page. Set at log-in, and again whenever allauth verifies or changes it.
EMAIL_VERIFIED_SESSION_KEY = "accounts.email_verified"


def remember_email_verified(request, user) -> None:
    from accounts.services import email_verified

    if request is not None and hasattr(request, "session"):
        request.session[EMAIL_VERIFIED_SESSION_KEY] = email_verified(user=user)


@receiver(user_logged_in, dispatch_uid="accounts.email_verified_at_login")
def email_verified_at_login(sender, request, user, **kwargs) -> None:
    remember_email_verified(request, user)


@receiver(email_changed, dispatch_uid="accounts.email_verified_on_change")
def email_verified_on_change(sender, request, user, **kwargs) -> None:
    if request is not None and request.user.pk == user.pk:
        remember_email_verified(request, user)


@receiver(email_confirmed, dispatch_uid="accounts.invitations_on_confirmation")
def invitations_on_confirmation(sender, request, email_address, **kwargs) -> None:
    """An address was verified: the invitations its account asked to accept are accepted now."""
    from accounts.services import invitations_accept_held

    user = email_address.user
    if getattr(getattr(request, "user", None), "pk", None) == user.pk:
        remember_email_verified(request, user)
    results = invitations_accept_held(user=user, email=email_address.email, request=request)
    if results and request is not None:
        request.joined_workspace = results[0].membership.workspace
        for result in results:
            messages.success(
                request,
                _("You joined “%(name)s” as %(role)s.")
                % {
                    "name": result.membership.workspace.name,
                    "role": result.membership.get_role_display(),
                },
            )
