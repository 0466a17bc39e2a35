from django.core.management.base import BaseCommand

from accounts import crypto


class Command(BaseCommand):
    help = (
        "Print a new Fernet key for TAISLY_DASH_ENCRYPTION_KEYS (put it first in the list, then "
        "run rotate_encryption_keys)."
    )

    def handle(self, *args, **options) -> None:
        self.stdout.write(crypto.generate_key())
