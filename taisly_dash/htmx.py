"""What views that htmx may call share: their request type and how they redirect."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """A request after django-htmx's middleware: ``request.htmx`` is truthy for htmx calls."""

    htmx: HtmxDetails


def redirect_for(request: HttpRequest, url: str) -> HttpResponse:
    """Go to ``url``: htmx follows an ``HX-Redirect`` header (a 302 would be swapped into the
    page), a plain form post a 302."""
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return redirect(url)
