"""Two-factor secrets at rest: allauth's TOTP secrets and recovery-code seeds are encrypted under
the Taisly keys' key list, old plain ones are encrypted by a data migration, and
``rotate_encryption_keys`` re-encrypts them (issue 15, item 10)."""

from __future__ import annotations

import importlib
import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection as db
from django.urls import reverse

from accounts import crypto
from tests.personas import PERSONA_PASSWORD

pytestmark = pytest.mark.django_db

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()
migration = importlib.import_module("accounts.migrations.0010_encrypt_two_factor_secrets")


def code(secret: str = SECRET) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def raw_data(authenticator: Authenticator) -> str:
    """The column as the database holds it (what a dump or a stolen backup shows)."""
    with db.cursor() as cursor:
        cursor.execute("SELECT data FROM mfa_authenticator WHERE id = %s", [authenticator.pk])
        value = cursor.fetchone()[0]
    return value if isinstance(value, str) else str(value)


def test_the_stored_totp_secret_and_seed_are_not_the_secrets(alice):
    totp = TOTP.activate(alice, SECRET).instance
    codes = RecoveryCodes.activate(alice)
    assert SECRET not in raw_data(totp)
    assert crypto.decrypt(totp.data["secret"]) == SECRET
    seed = crypto.decrypt(codes.instance.data["seed"])
    assert len(seed) == 80 and seed not in raw_data(codes.instance)


def test_signing_in_with_a_totp_code_or_a_recovery_code_still_works(client, alice):
    TOTP.activate(alice, SECRET)
    recovery = RecoveryCodes.activate(alice).generate_codes()
    for second_factor in (code(), recovery[0]):
        client.logout()
        client.post(reverse("account_login"), {"login": alice.email, "password": PERSONA_PASSWORD})
        assert not client.session.get("_auth_user_id")
        assert client.post(reverse("mfa_authenticate"), {"code": second_factor}).status_code == 302
        assert int(client.session["_auth_user_id"]) == alice.pk


def test_the_migration_encrypts_plain_secrets_once_and_going_back_decrypts(alice, bob):
    # As allauth stored them before: in the clear.
    totp = Authenticator.objects.create(user=alice, type="totp", data={"secret": SECRET})
    seed = "ab" * 40
    codes = Authenticator.objects.create(
        user=alice, type="recovery_codes", data={"seed": seed, "used_mask": 2}
    )
    migrated = Authenticator.objects.create(
        user=bob,
        type="recovery_codes",
        data={"seed": seed, "used_mask": 0, "migrated_codes": ["11111111", "22222222"]},
    )
    already = TOTP.activate(bob, SECRET).instance  # written by the new adapter
    already_raw = raw_data(already)

    migration.encrypt_secrets(apps, None)
    migration.encrypt_secrets(apps, None)  # twice changes nothing more
    for row in (totp, codes, migrated, already):
        row.refresh_from_db()
    assert SECRET not in raw_data(totp) and seed not in raw_data(codes)
    assert "11111111" not in raw_data(migrated)
    assert crypto.decrypt(totp.data["secret"]) == SECRET
    assert crypto.decrypt(codes.data["seed"]) == seed and codes.data["used_mask"] == 2
    assert RecoveryCodes(migrated).get_unused_codes() == ["11111111", "22222222"]
    assert raw_data(already) == already_raw
    assert TOTP(totp).validate_code(code())

    migration.decrypt_secrets(apps, None)
    totp.refresh_from_db()
    assert totp.data == {"secret": SECRET}


def test_rotation_re_encrypts_two_factor_secrets(settings, alice, bob, capsys):
    settings.TAISLY_DASH_ENCRYPTION_KEYS = [OLD]
    totp = TOTP.activate(alice, SECRET).instance
    codes = RecoveryCodes.activate(alice)
    plain_codes = codes.generate_codes()
    before = (raw_data(totp), raw_data(codes.instance))

    settings.TAISLY_DASH_ENCRYPTION_KEYS = [NEW, OLD]
    call_command("rotate_encryption_keys")
    assert "Re-encrypted 2 stored secret(s)" in capsys.readouterr().out

    settings.TAISLY_DASH_ENCRYPTION_KEYS = [NEW]  # the old key dropped
    totp.refresh_from_db()
    codes.instance.refresh_from_db()
    assert (raw_data(totp), raw_data(codes.instance)) != before
    assert TOTP(totp).validate_code(code())
    assert RecoveryCodes(codes.instance).generate_codes() == plain_codes


def test_rotation_names_a_two_factor_secret_no_key_reads(settings, alice, capsys):
    settings.TAISLY_DASH_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # lost later
    TOTP.activate(alice, SECRET)
    settings.TAISLY_DASH_ENCRYPTION_KEYS = [NEW]
    with pytest.raises(CommandError, match="could not be decrypted"):
        call_command("rotate_encryption_keys")
    assert "two-factor secrets of alice@example.test" in capsys.readouterr().err
