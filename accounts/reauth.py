"""A fresh password (or two-factor code) before an action that could take a workspace over from
a borrowed session: django-allauth's re-authentication, for our own views.

    view: access check (404 / 403 first) ─► require_recent_authentication(request)
        recent enough ─► go on
        not recent    ─► allauth's ReauthenticationRequired ─► its middleware: /reauthenticate/
                         ─► password (or code) ─► the request again (a POST is replayed)

"Recent" is allauth's: the password or a code given again on its re-authentication page within
ACCOUNT_REAUTHENTICATION_TIMEOUT seconds (logging in does not count). Called after the access
check, so an outsider still gets the 404 and learns nothing from being asked for a password.
"""

from __future__ import annotations

from allauth.account.adapter import get_adapter
from allauth.account.decorators import reauthentication_required
from allauth.core.exceptions import ImmediateHttpResponse, ReauthenticationRequired
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.http import urlencode
from django.utils.translation import gettext as _


@reauthentication_required(app="allauth.account")
def _recent(request: HttpRequest) -> None:
    """Does nothing: allauth's decorator raises when the last re-authentication is too old."""


def require_recent_authentication(
    request: HttpRequest, *, replay_post: bool = True, htmx_back_to: str | None = None
) -> None:
    """Raise allauth's ``ReauthenticationRequired`` unless the password (or a two-factor code)
    was given again recently; allauth's middleware answers with its re-authentication page and
    afterwards carries on with this request.

    ``replay_post=False`` for a form that carries a secret (a Taisly key): allauth keeps a POST
    it will replay in the session, so such a POST is dropped instead, and the person comes back
    to the empty form after re-authenticating.

    An htmx request (a control inside a page) is not replayed: the whole page goes to the
    re-authentication page (``HX-Redirect``), which comes back to ``htmx_back_to`` (the page the
    control is on) to be done again.
    """
    try:
        _recent(request)
    except ReauthenticationRequired:
        htmx = bool(getattr(request, "htmx", False))
        if (replay_post or request.method != "POST") and not htmx:
            raise
        methods = get_adapter(request).get_reauthentication_methods(request.user)
        if not methods:
            raise
        if htmx:
            messages.info(request, _("Confirm it is you first; then do it again."))
            back = htmx_back_to or request.path
            response = HttpResponse(status=204)
            response["HX-Redirect"] = (
                f"{methods[0]['url']}?{urlencode({REDIRECT_FIELD_NAME: back})}"
            )
            raise ImmediateHttpResponse(response) from None
        messages.info(
            request,
            _("Confirm it is you first; then enter the form again. Nothing was sent or stored."),
        )
        url = f"{methods[0]['url']}?{urlencode({REDIRECT_FIELD_NAME: request.path})}"
        raise ImmediateHttpResponse(HttpResponseRedirect(url)) from None
