"""The project's WSGI application plus one route for the page benchmark: a minimal
login-required view, the floor the history and calendar pages are measured against.

Used only by tests/bench/bench_pages.py; production never loads it.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taisly_dash.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

from django.contrib.auth.decorators import login_required  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import clear_url_caches, path  # noqa: E402

from taisly_dash import urls  # noqa: E402


@login_required
def minimal(request):
    return HttpResponse("ok", content_type="text/plain")


# Prepend the route to the project's URLconf, before any request builds the resolver.
urls.urlpatterns.insert(0, path("bench/minimal/", minimal, name="bench_minimal"))
clear_url_caches()
