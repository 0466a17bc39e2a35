from __future__ import annotations

from django.db import models

from accounts import crypto


class EncryptedTextField(models.TextField):
    """A text column that holds only Fernet ciphertext; Python sees the plaintext.

    Reading a value that no configured key can decrypt raises ``crypto.DecryptionError``: it never
    hands back the ciphertext as if it were the secret. Not searchable, not orderable.
    """

    description = "Text encrypted with the TAISLY_DASH_ENCRYPTION_KEYS"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(value)
