"""Time zone names are read once per process: ``zoneinfo.available_timezones()`` opens every
zone file each call (about 0.1 s), and one save of a time zone asked for it up to three times."""

from __future__ import annotations

import zoneinfo

import pytest
from django.urls import reverse

from accounts.models import known_time_zones

pytestmark = pytest.mark.django_db


def test_a_time_zone_save_does_not_read_the_zone_files(alice, workspace, login, monkeypatch):
    client = login(alice)
    known_time_zones()  # read once, as the first request of a process does
    reads = []
    real = zoneinfo.available_timezones
    monkeypatch.setattr(zoneinfo, "available_timezones", lambda: reads.append(1) or real())
    url = reverse("accounts:workspace_time_zone", kwargs={"code": workspace.code})

    assert client.post(url, {"time_zone": "Asia/Jakarta"}).status_code == 302
    assert client.post(url, {"time_zone": "Nowhere/Land"}).status_code == 422

    workspace.refresh_from_db()
    assert workspace.time_zone == "Asia/Jakarta"
    assert reads == []


def test_factory_is_no_place_and_is_refused(alice, workspace, login):
    """The zone directory holds "Factory" (no place's time, read as "-00"): not offered, and
    typed in it is refused like any unknown name."""
    url = reverse("accounts:workspace_time_zone", kwargs={"code": workspace.code})

    response = login(alice).post(url, {"time_zone": "Factory"})

    workspace.refresh_from_db()
    assert response.status_code == 422 and workspace.time_zone != "Factory"
    assert "Factory" not in known_time_zones() and "Europe/Paris" in known_time_zones()
