"""Each signed-in person sees times in their own time zone and pages in their own language;
workspaces that require two-factor sign-in send members without it to set it up."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.access import TwoFactorRequired


class UserPreferencesMiddleware:
    """Activate the user's time zone and language (after ``AuthenticationMiddleware``).

    Anonymous visitors keep what ``LocaleMiddleware`` chose (language cookie, then the
    browser's Accept-Language) and see UTC.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            try:
                timezone.activate(zoneinfo.ZoneInfo(user.timezone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
            if user.language in dict(settings.LANGUAGES):
                translation.activate(user.language)
                request.LANGUAGE_CODE = user.language
        else:
            timezone.deactivate()
        return self.get_response(request)


class TwoFactorRequiredMiddleware:
    """Turns ``accounts.access.TwoFactorRequired`` into a redirect to the two-factor set-up,
    with a sentence that says why (htmx requests get ``HX-Redirect``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not isinstance(exception, TwoFactorRequired):
            return None
        if exception.workspace is not None:
            text = _(
                "“%(name)s” asks every member to use two-factor sign-in. Turn it on here, "
                "then open the workspace again."
            ) % {"name": exception.workspace.name}
        else:
            text = _("Staff need two-factor sign-in. Turn it on here to open oversight pages.")
        messages.warning(request, text)
        url = reverse("mfa_index")
        if getattr(request, "htmx", False):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return redirect(url)


class RefusedFormStatusMiddleware:
    """A form that fails validation answers 422, also on django-allauth's own pages (the
    two-factor code at log-in, turning two-factor on, email change, re-authentication, a new
    password from a reset link...), which answer 200. Our views set 422 themselves; this catches
    the library's, so htmx and tests can tell a refusal from a page everywhere."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_template_response(self, request: HttpRequest, response):
        if request.method != "POST" or response.status_code != 200:
            return response
        form = (response.context_data or {}).get("form")
        if form is not None and getattr(form, "is_bound", False) and form.errors:
            response.status_code = 422
        return response
