"""Encrypt the TOTP secrets and recovery-code seeds allauth stored in plain text before
``accounts.adapter.MFAAdapter`` encrypted them (under TAISLY_DASH_ENCRYPTION_KEYS).

A value some configured key already decrypts is left as it is, so running it twice, or over rows
written by the new adapter, changes nothing. Going back decrypts them again.
"""

from django.db import migrations, transaction

from accounts import crypto
from accounts.mfa_secrets import SECRET_KEYS, map_secrets


def _is_encrypted(value: str) -> bool:
    try:
        crypto.decrypt(value)
    except crypto.DecryptionError:
        return False
    return True


def _encrypt(value: str) -> str:
    return value if _is_encrypted(value) else crypto.encrypt(value)


def _decrypt(value: str) -> str:
    return crypto.decrypt(value) if _is_encrypted(value) else value


def _convert(apps, change) -> None:
    Authenticator = apps.get_model("mfa", "Authenticator")
    with transaction.atomic():
        rows = Authenticator.objects.select_for_update().filter(type__in=[str(t) for t in SECRET_KEYS])
        for row in rows:
            data = map_secrets(row.type, row.data, change)
            if data != row.data:
                Authenticator.objects.filter(pk=row.pk).update(data=data)


def encrypt_secrets(apps, schema_editor) -> None:
    _convert(apps, _encrypt)


def decrypt_secrets(apps, schema_editor) -> None:
    _convert(apps, _decrypt)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0009_taislyconnection_blocked_since"),
        ("mfa", "0003_authenticator_type_uniq"),
    ]

    operations = [migrations.RunPython(encrypt_secrets, decrypt_secrets)]
