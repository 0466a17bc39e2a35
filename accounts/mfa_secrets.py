"""Two-factor secrets at rest: allauth keeps a TOTP secret and a recovery-code seed in each
``Authenticator.data``; both go through ``accounts.crypto`` (the key list of the Taisly keys).

    allauth.mfa ─ encrypt()/decrypt() ─► accounts.adapter.MFAAdapter ─► accounts.crypto
    rotate_encryption_keys ─► authenticator_rotate()   (the same values, under the newest key)

Which values of ``data`` are secret, per authenticator type. allauth encrypts exactly these
through its adapter (``migrated_codes`` are recovery codes brought over from another library,
each encrypted on its own); a passkey's data is a public key and stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable

from allauth.mfa.models import Authenticator
from django.db import transaction

from accounts import crypto

SECRET_KEYS = {
    Authenticator.Type.TOTP: ("secret",),
    Authenticator.Type.RECOVERY_CODES: ("seed",),
}
SECRET_LISTS = {Authenticator.Type.RECOVERY_CODES: ("migrated_codes",)}


def map_secrets(kind: str, data: dict, change: Callable[[str], str]) -> dict:
    """``data`` with every secret value of an authenticator of ``kind`` passed through
    ``change``. Shared by the data migration (encrypt) and the key rotation (rotate)."""
    data = dict(data)
    for key in SECRET_KEYS.get(kind, ()):
        if isinstance(data.get(key), str) and data[key]:
            data[key] = change(data[key])
    for key in SECRET_LISTS.get(kind, ()):
        if isinstance(data.get(key), list):
            data[key] = [change(value) for value in data[key]]
    return data


def authenticator_rotate(*, pk: int) -> bool:
    """Re-encrypt one authenticator's secrets under the newest key, under a row lock (a code
    being used at the same moment writes ``data`` too). False if it is gone. Raises
    ``crypto.DecryptionError`` when no configured key reads it (nothing is written)."""
    with transaction.atomic():
        row = Authenticator.objects.select_for_update().filter(pk=pk).first()
        if row is None:
            return False
        data = map_secrets(row.type, row.data, crypto.rotate)
        if data != row.data:
            Authenticator.objects.filter(pk=pk).update(data=data)
        return True


def authenticators_with_secrets():
    return Authenticator.objects.filter(type__in=list(SECRET_KEYS)).order_by("pk")
