import pytest
from django.db import DatabaseError


@pytest.mark.django_db
def test_healthz_reports_database_and_queue(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["queue"]["status"] == "ok"
    assert body["queue"]["queued"] == 0


@pytest.mark.django_db
def test_healthz_says_503_when_the_queue_table_is_unreadable(client, monkeypatch):
    from django_q.models import OrmQ

    def broken(*args, **kwargs):
        raise DatabaseError("no such table")

    monkeypatch.setattr(OrmQ.objects, "count", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["queue"]["status"] == "error"


@pytest.mark.django_db
def test_healthz_needs_no_login_and_refuses_post(client):
    assert client.post("/healthz").status_code == 405
