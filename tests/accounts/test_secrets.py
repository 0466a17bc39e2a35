"""A Taisly key, once pasted, is never seen again in plaintext: not in logs, responses, URLs,
the audit log, error reports, the task tables, or anywhere else in the database."""

from __future__ import annotations

import logging

import pytest
from django.db import connection as db
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.views.debug import ExceptionReporter

from accounts.models import AuditEvent, TaislyConnection, User
from posting.connection import keys
from tests.personas import make_fresh

pytestmark = pytest.mark.django_db


def url(name: str, workspace) -> str:
    return reverse(f"taisly:{name}", kwargs={"code": workspace.code})


def dump_database() -> str:
    """Every row of every table of the default database, as text."""
    tables = db.introspection.table_names()
    assert {"django_q_ormq", "django_q_task", "accounts_taislyconnection"} <= set(tables)
    chunks = []
    with db.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT * FROM {db.ops.quote_name(table)}")  # noqa: S608
            chunks.append(f"{table}: {cursor.fetchall()!r}")
    return "\n".join(chunks)


class Seen:
    """Everything the test saw leave the server: bodies, URLs, headers."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, response) -> None:
        self.texts.append(response.content.decode(errors="replace"))
        self.texts.append(str(response.headers))
        self.texts.append(response.request["PATH_INFO"] + "?" + response.request["QUERY_STRING"])
        for target, _status in getattr(response, "redirect_chain", []):
            self.texts.append(target)

    def __str__(self) -> str:
        return "\n".join(self.texts)


def assert_nowhere(secret: str, *haystacks: str) -> None:
    """No 12 consecutive characters of the key's secret part appear (the hint shows 4)."""
    body = secret.removeprefix("taisly_")
    pieces = [body[i : i + 12] for i in range(len(body) - 11)]
    for haystack in haystacks:
        leaked = [piece for piece in pieces if piece in haystack]
        assert not leaked, f"{len(leaked)} twelve-character piece(s) of the key leaked"


def wrong_key(key: str) -> str:
    """The key with each of its last four characters changed: never the key itself (setting
    them to "0000" was the key once in 65,536 runs), still of a key's shape."""
    return key[:-4] + "".join("1" if c == "0" else "0" for c in key[-4:])


def test_the_wrong_key_always_differs_from_the_right_one():
    for key in ("taisly_" + "ab" * 30 + "0000", "taisly_" + "ab" * 30 + "1f0a"):
        wrong = wrong_key(key)
        assert wrong != key and len(wrong) == len(key)
        assert all(a != b for a, b in zip(wrong[-4:], key[-4:], strict=True))


@pytest.fixture
def everything_logged(caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    return caplog


def test_connect_regenerate_and_pages_leave_no_plaintext_anywhere(
    settings,
    sandbox,
    sandbox_account,
    everything_logged,
    workspace,
    alice,
    bob,
    vera,
    staff,
    login,
):
    settings.TAISLY_BASE_URL = sandbox.base_url
    old_key = sandbox_account["api_key"]
    seen = Seen()
    owner = login(alice)
    superuser = User.objects.create_superuser(email="root@example.test", password="x")
    admin = login(superuser)

    with CaptureQueriesContext(db) as queries:  # every SQL statement and its parameters
        seen.add(owner.get(url("detail", workspace)))
        seen.add(owner.get(url("connect", workspace)))
        # Form errors: Taisly down, then a wrong key, then a key of the wrong shape.
        sandbox.fault("500")
        seen.add(owner.post(url("connect", workspace), {"api_key": old_key}))
        seen.add(owner.post(url("connect", workspace), {"api_key": wrong_key(old_key)}))
        seen.add(owner.post(url("connect", workspace), {"api_key": old_key + " !"}))
        # The real thing.
        seen.add(owner.post(url("connect", workspace), {"api_key": old_key}, follow=True))
        seen.add(owner.get(url("regenerate", workspace)))
        seen.add(owner.post(url("regenerate", workspace), follow=True))
        for user in (bob, vera, staff):
            seen.add(login(user).get(url("detail", workspace)))
        connection = TaislyConnection.objects.get(workspace=workspace)
        seen.add(admin.get(reverse("admin:accounts_taislyconnection_changelist")))
        seen.add(admin.get(reverse("admin:accounts_taislyconnection_change", args=[connection.pk])))

    new_key = connection.api_key
    assert new_key.startswith("taisly_") and new_key != old_key
    assert connection.key_hint in str(seen)  # the pages did show the hint

    sql = "\n".join(f"{q['sql']}" for q in queries.captured_queries)
    audit = repr(list(AuditEvent.objects.values()))
    assert AuditEvent.objects.filter(action__startswith="key.").count() == 2
    database = dump_database()
    assert "gAAAA" in database  # the key is there, as Fernet ciphertext
    for secret in (old_key, new_key):
        assert_nowhere(secret, everything_logged.text, str(seen), sql, audit, database)


def test_an_error_report_hides_the_key(
    settings, sandbox, sandbox_account, caplog, monkeypatch, workspace, alice
):
    """An unexpected failure after the key is verified: the logged 500, and the report Django
    would email to the admins, show neither the POSTed key nor the locals that hold it."""
    settings.TAISLY_BASE_URL = sandbox.base_url
    api_key = sandbox_account["api_key"]

    def broken_store(**kwargs):
        raise RuntimeError("the database is on fire")

    monkeypatch.setattr(keys, "connection_store", broken_store)
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    make_fresh(client, alice)
    response = client.post(url("connect", workspace), {"api_key": api_key})
    assert response.status_code == 500

    (record,) = [r for r in caplog.records if r.name == "django.request" and r.exc_info]
    report = ExceptionReporter(record.request, *record.exc_info, is_email=True)
    text = report.get_traceback_text()
    html = report.get_traceback_html()
    assert "the database is on fire" in text
    assert "connection_connect" in text  # the frames are there, their secrets are not
    assert "********" in text
    assert_nowhere(api_key, text, html, caplog.text, response.content.decode())
    assert not TaislyConnection.objects.exists()
