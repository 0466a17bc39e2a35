"""Request bodies are bounded (issue 15, item 2): no view but compose takes a file, and every
other body is small. A refused body is a 4xx with a sentence in the person's language, never a
500, and nothing of it is written to disk. (Per-person uploads and per-workspace storage:
test_upload_limits.py; a body sent too slowly: tests/unit/test_wsgi_input.py and
tests/integration/test_request_body_gunicorn.py.)"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client, RequestFactory
from django.urls import reverse

from tests.posting.test_upload import CountingStream, temp_files
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_url

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024


def file_post(client: Client, url: str, size: int, **headers):
    upload = io.BytesIO(b"\0" * size)
    upload.name = "big.mp4"
    return client.post(url, {"name": "Renamed", "login": "x@example.com", "f": upload}, **headers)


def text(response) -> str:
    return response.content.decode().replace("\xa0", " ")  # sizes are written 1.0\xa0MB


def nothing_kept(media: Path) -> bool:
    return temp_files(media) == [] and [p for p in media.rglob("*") if p.is_file()] == []


# --- Files only where a view opts in ------------------------------------------------------------


def test_a_multi_mib_file_sent_to_login_is_refused_and_nothing_is_written(media, spooled):
    response = file_post(Client(), reverse("account_login"), 6 * MIB)
    assert response.status_code == 413
    assert "larger than 1.0 MB, the most this page takes" in text(response)
    assert spooled == [] and nothing_kept(media)


def test_a_file_sent_to_a_logged_in_form_is_refused_and_nothing_is_written(
    login, alice, workspace, media, spooled
):
    url = reverse("accounts:workspace_rename", kwargs={"code": workspace.code})
    client = login(alice)
    big = file_post(client, url, 4 * MIB)
    assert big.status_code == 413
    # Under the size cap, a file part is still no business of this form: refused at its headers.
    small = file_post(client, url, 200 * 1024)
    assert small.status_code == 415
    assert "This page does not take files. Nothing was uploaded or kept." in small.content.decode()
    # From htmx, the sentence alone (it is swapped in where the form was).
    fragment = file_post(client, url, 10 * 1024, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 415 and "<html" not in fragment.content.decode()
    assert 'data-testid="request-refused"' in fragment.content.decode()
    assert spooled == [] and nothing_kept(media)
    workspace.refresh_from_db()
    assert workspace.name != "Renamed"


def test_the_refusal_is_in_the_persons_language(login, alice, workspace, media):
    alice.language = "id"
    alice.save(update_fields=["language"])
    url = reverse("accounts:workspace_rename", kwargs={"code": workspace.code})
    response = file_post(login(alice), url, 10 * 1024)
    assert response.status_code == 415
    assert "Halaman ini tidak menerima berkas." in response.content.decode()


def wsgi_post(path: str, body: bytes, *, content_type: str, cookie: str = "", length=None):
    """The whole stack, as a server calls it, with a body that counts what was read of it."""
    environ = RequestFactory().post(path).environ
    stream = CountingStream(body)
    environ.update(
        {
            "wsgi.input": stream,
            "CONTENT_LENGTH": str(len(body) if length is None else length),
            "CONTENT_TYPE": content_type,
            "HTTP_COOKIE": cookie,
        }
    )
    status = []
    chunks = WSGIHandler()(environ, lambda s, headers, exc_info=None: status.append(s))
    return int(status[0].split()[0]), b"".join(chunks).decode(), stream


def test_a_body_over_the_cap_is_refused_from_its_content_length_without_reading_it(media):
    body = b"login=a%40b.c&password=" + b"x" * (2 * MIB)
    status, html, stream = wsgi_post(
        "/login/", body, content_type="application/x-www-form-urlencoded"
    )
    assert status == 413 and "the most this page takes" in html
    assert stream.bytes_read == 0


def test_a_small_body_still_works(client, media):
    # The cap leaves ordinary forms alone: a wrong password is the usual sentence.
    response = client.post(reverse("account_login"), {"login": "a@b.c", "password": "x"})
    assert response.status_code == 422


def test_compose_takes_at_most_the_video_limit_and_a_little(settings, login, bob, workspace, media):
    settings.POST_VIDEO_MAX_MB = 1
    session = login(bob).cookies["sessionid"].value
    status, html, stream = wsgi_post(
        compose_url(workspace),
        b"x" * (2 * MIB),
        content_type="multipart/form-data; boundary=xyz",
        cookie=f"sessionid={session}",
    )
    assert status == 413 and "larger than 1 MB" in html
    assert stream.bytes_read == 0


def test_a_multipart_body_that_cannot_be_read_is_a_sentence_not_a_500(media):
    status, html, _stream = wsgi_post(
        "/login/", b"--nothing--\r\n", content_type="multipart/form-data; boundary=\x00"
    )
    assert status == 400
    assert "The form could not be read. Reload the page and try again." in html
