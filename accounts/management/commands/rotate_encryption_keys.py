"""Re-encrypt every stored secret under the newest key of TAISLY_DASH_ENCRYPTION_KEYS.

Steps (README): generate a key, put it first in the list (keep the old ones after it), deploy,
run this command, then drop the old keys. Rows are read and written as raw ciphertext: the
plaintext is only ever in memory inside ``crypto.rotate``.
"""

from __future__ import annotations

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import models
from django.db.models.functions import Cast

from accounts import crypto, mfa_secrets
from accounts.fields import EncryptedTextField


def _encrypted_fields():
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                yield model, field


def _label(model, row: dict) -> str:
    # Name the workspace when the model belongs to one: that is what an operator can look up.
    if row.get("workspace__code"):
        return f"workspace {row['workspace__code']}"
    return f"{model._meta.label} id={row['pk']}"


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored Taisly key, webhook secret and two-factor secret under the "
        "newest key."
    )

    def handle(self, *args, **options) -> None:
        try:
            crypto.encrypt("")  # fails now, with a clear message, on a bad key list
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None

        rotated = failed = 0
        for model, field in _encrypted_fields():
            has_workspace = any(f.name == "workspace" for f in model._meta.concrete_fields)
            rows = (
                model._default_manager.annotate(token=Cast(field.name, models.TextField()))
                .exclude(token="")
                .exclude(token__isnull=True)
            )
            columns = ["pk", "token"] + (["workspace__code"] if has_workspace else [])
            for row in rows.values(*columns).iterator():
                try:
                    new_token = crypto.rotate(row["token"])
                except crypto.DecryptionError:
                    failed += 1
                    self.stderr.write(
                        f"Cannot decrypt {model._meta.verbose_name} {field.name} of "
                        f"{_label(model, row)} with any configured key: left as it is."
                    )
                    continue
                # Only if unchanged since read: a key stored meanwhile is already current.
                rotated += (
                    model._default_manager.annotate(token=Cast(field.name, models.TextField()))
                    .filter(pk=row["pk"], token=row["token"])
                    .update(**{field.name: models.Value(new_token, models.TextField())})
                )

        # Two-factor secrets live inside allauth's JSON column (accounts.mfa_secrets).
        two_factor_failed = 0
        for pk, email in mfa_secrets.authenticators_with_secrets().values_list("pk", "user__email"):
            try:
                rotated += mfa_secrets.authenticator_rotate(pk=pk)
            except crypto.DecryptionError:
                two_factor_failed += 1
                self.stderr.write(
                    f"Cannot decrypt the two-factor secrets of {email} (authenticator id={pk}) "
                    "with any configured key: left as they are."
                )

        self.stdout.write(f"Re-encrypted {rotated} stored secret(s) under the newest key.")
        if failed or two_factor_failed:
            raise CommandError(
                f"{failed + two_factor_failed} stored secret(s) could not be decrypted with "
                "TAISLY_DASH_ENCRYPTION_KEYS (see above). Add the key they were encrypted with to "
                "the list and run this again; otherwise disconnect those workspaces' keys and "
                "connect them again, and have those people turn two-factor sign-in off (an "
                "administrator deletes their authenticators) and on again."
            )
