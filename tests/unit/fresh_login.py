"""Run in a subprocess against a database that ``manage.py migrate`` alone made (see
test_migrate_alone.py): signs up nobody, makes one account, then logs in through the real
log-in page, a wrong password first (allauth counts it in the cache), and prints what each
request answered as JSON.

    python -m tests.unit.fresh_login
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taisly_dash.settings")

import django  # noqa: E402

django.setup()

from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from accounts.models import User  # noqa: E402

User.objects.create_user(email="fresh@example.test", password="fresh-pass-123")
client = Client(HTTP_HOST="localhost", raise_request_exception=False)
login = reverse("account_login")
form = client.get(login)
wrong = client.post(login, {"login": "fresh@example.test", "password": "not-it"})
right = client.post(login, {"login": "fresh@example.test", "password": "fresh-pass-123"})
home = client.get(reverse("home"), follow=True)
print(
    json.dumps(
        {
            "form": form.status_code,
            "wrong": wrong.status_code,
            "right": right.status_code,
            "home": home.status_code,
            "signed_in_as": home.wsgi_request.user.get_username(),
        }
    )
)
