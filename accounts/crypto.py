"""Encryption of stored Taisly keys: MultiFernet over a key list kept apart from SECRET_KEY.

Keys come newest first from ``TAISLY_DASH_ENCRYPTION_KEYS`` (comma separated) or
``TAISLY_DASH_ENCRYPTION_KEYS_FILE``. The first key encrypts; every key decrypts, so a new key
can be added in front, ``rotate_encryption_keys`` run, and the old key dropped.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key."""


@lru_cache(maxsize=1)
def _multifernet() -> MultiFernet:
    keys = list(settings.TAISLY_DASH_ENCRYPTION_KEYS)
    if not keys:
        raise ImproperlyConfigured(
            "TAISLY_DASH_ENCRYPTION_KEYS is empty: stored keys cannot be read."
        )
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "TAISLY_DASH_ENCRYPTION_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes; make one with `python manage.py "
            "generate_encryption_key`)."
        ) from exc


@receiver(setting_changed)
def _forget_keys(*, setting, **kwargs):
    if setting == "TAISLY_DASH_ENCRYPTION_KEYS":
        _multifernet.cache_clear()


def encrypt(plaintext: str) -> str:
    return _multifernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _multifernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError):
        # Never fall back to returning the token: ciphertext must not pass for a key.
        raise DecryptionError(
            "A stored secret could not be decrypted with the configured keys."
        ) from None


def rotate(token: str) -> str:
    """Re-encrypt a token under the newest key."""
    try:
        return _multifernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError, ValueError):
        raise DecryptionError(
            "A stored secret could not be decrypted with the configured keys."
        ) from None


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def key_fingerprint(api_key: str) -> str:
    """A keyed fingerprint of a Taisly key: HMAC-SHA256 under ``TAISLY_DASH_FINGERPRINT_KEY``.

    Equal keys give equal fingerprints, so connections that hold the same key (and so share
    Taisly's hourly limit) are recognised without storing or comparing the key itself. Without
    the secret, a fingerprint cannot be tested against guessed keys. "" for no key.
    """
    api_key = (api_key or "").strip()
    if not api_key:
        return ""
    secret = settings.TAISLY_DASH_FINGERPRINT_KEY
    if not secret:
        raise ImproperlyConfigured("TAISLY_DASH_FINGERPRINT_KEY is empty.")
    return hmac.new(secret.encode(), api_key.encode(), hashlib.sha256).hexdigest()
