"""Encryption of stored keys, the encrypted field, and key rotation end to end."""

from __future__ import annotations

import secrets

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection as db

from accounts import crypto
from accounts.models import TaislyConnection, Workspace

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()


def random_key() -> str:
    return "taisly_" + secrets.token_hex(32)


def raw_column(conn: TaislyConnection) -> str:
    with db.cursor() as cursor:
        cursor.execute("SELECT api_key FROM accounts_taislyconnection WHERE id = %s", [conn.pk])
        return cursor.fetchone()[0]


@pytest.fixture
def old_keys(settings):
    settings.TAISLY_DASH_ENCRYPTION_KEYS = [OLD]
    return settings


def test_a_round_trip_gives_the_plaintext_back(old_keys):
    token = crypto.encrypt("taisly_abc")
    assert token != "taisly_abc"
    assert "taisly" not in token
    assert crypto.decrypt(token) == "taisly_abc"


def test_a_bad_token_raises_and_never_returns_the_ciphertext(old_keys):
    for bad in ("not-a-token", "gAAAAA" + "x" * 80, "", "taisly_" + "0" * 64):
        with pytest.raises(crypto.DecryptionError) as caught:
            crypto.decrypt(bad)
        if bad:
            assert bad not in str(caught.value)


def test_a_token_from_another_key_list_raises(settings):
    settings.TAISLY_DASH_ENCRYPTION_KEYS = [OLD]
    token = crypto.encrypt("taisly_secret")
    settings.TAISLY_DASH_ENCRYPTION_KEYS = [NEW]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)
    with pytest.raises(crypto.DecryptionError):
        crypto.rotate(token)


def test_a_malformed_key_list_is_a_configuration_error(settings):
    settings.TAISLY_DASH_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured, match="generate_encryption_key"):
        crypto.encrypt("x")
    settings.TAISLY_DASH_ENCRYPTION_KEYS = []
    with pytest.raises(ImproperlyConfigured):
        crypto.encrypt("x")


@pytest.mark.django_db
def test_the_field_stores_only_ciphertext(old_keys):
    api_key = random_key()
    conn = TaislyConnection.objects.create(
        workspace=Workspace.objects.create(name="W"), api_key=api_key
    )
    stored = raw_column(conn)
    assert api_key not in stored and api_key[7:] not in stored
    assert crypto.decrypt(stored) == api_key
    assert TaislyConnection.objects.get(pk=conn.pk).api_key == api_key


@pytest.mark.django_db
def test_reading_a_row_no_key_decrypts_raises(settings):
    settings.TAISLY_DASH_ENCRYPTION_KEYS = [OLD]
    conn = TaislyConnection.objects.create(
        workspace=Workspace.objects.create(name="W"), api_key=random_key()
    )
    settings.TAISLY_DASH_ENCRYPTION_KEYS = [NEW]
    with pytest.raises(crypto.DecryptionError):
        TaislyConnection.objects.get(pk=conn.pk)
    # Pages defer the key, so they still render.
    assert TaislyConnection.objects.defer("api_key").get(pk=conn.pk).key_hint == conn.key_hint


def test_generate_encryption_key_prints_a_fernet_key(capsys):
    call_command("generate_encryption_key")
    key = capsys.readouterr().out.strip()
    Fernet(key)  # a valid key, or this raises
    assert key != OLD


@pytest.mark.django_db
def test_rotation_end_to_end(settings, capsys):
    # 1. Keys stored under the old key list.
    settings.TAISLY_DASH_ENCRYPTION_KEYS = [OLD]
    plaintexts = {}
    for name in ("Kopi", "Batik", "Solo"):
        api_key = random_key()
        conn = TaislyConnection.objects.create(
            workspace=Workspace.objects.create(name=name), api_key=api_key
        )
        plaintexts[conn.pk] = api_key
    blank = TaislyConnection.objects.create(
        workspace=Workspace.objects.create(name="Disconnected"), api_key=""
    )
    before = {pk: raw_column(TaislyConnection(pk=pk)) for pk in plaintexts}

    # 2. A new key in front; the old one still decrypts.
    settings.TAISLY_DASH_ENCRYPTION_KEYS = [NEW, OLD]
    call_command("rotate_encryption_keys")
    assert "Re-encrypted 3 stored secret(s)" in capsys.readouterr().out

    # 3. The old key dropped: every connection still decrypts, to the same key.
    settings.TAISLY_DASH_ENCRYPTION_KEYS = [NEW]
    for pk, api_key in plaintexts.items():
        assert TaislyConnection.objects.get(pk=pk).api_key == api_key
        assert raw_column(TaislyConnection(pk=pk)) != before[pk]
    assert raw_column(blank) == ""
    assert TaislyConnection.objects.get(pk=blank.pk).api_key == ""


@pytest.mark.django_db
def test_rotation_names_rows_it_cannot_decrypt_and_still_rotates_the_others(settings, capsys):
    lost = Fernet.generate_key().decode()
    settings.TAISLY_DASH_ENCRYPTION_KEYS = [lost]
    orphan_ws = Workspace.objects.create(name="Orphan")
    TaislyConnection.objects.create(workspace=orphan_ws, api_key=random_key())
    settings.TAISLY_DASH_ENCRYPTION_KEYS = [OLD]
    good_key = random_key()
    good = TaislyConnection.objects.create(
        workspace=Workspace.objects.create(name="Good"), api_key=good_key
    )

    settings.TAISLY_DASH_ENCRYPTION_KEYS = [NEW, OLD]
    with pytest.raises(CommandError, match="1 stored secret"):
        call_command("rotate_encryption_keys")
    captured = capsys.readouterr()
    assert str(orphan_ws.code) in captured.err
    assert "Re-encrypted 1 stored secret(s)" in captured.out

    settings.TAISLY_DASH_ENCRYPTION_KEYS = [NEW]
    assert TaislyConnection.objects.get(pk=good.pk).api_key == good_key


def test_rotation_refuses_a_broken_key_list(settings):
    settings.TAISLY_DASH_ENCRYPTION_KEYS = ["nope"]
    with pytest.raises(CommandError, match="not a Fernet key"):
        call_command("rotate_encryption_keys")
