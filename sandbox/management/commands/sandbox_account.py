"""`manage.py sandbox_account --plan STARTER --platforms TikTok,X [--disconnected X]`.

Prints one JSON object: {"api_key": ..., "plan": ..., "platforms": [...]}. The key is shown only
here; the sandbox keeps its sha256.
"""

from __future__ import annotations

import json

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from sandbox import services, shapes
from sandbox.errors import ApiError

ALL_NETWORKS = "TikTok,Instagram,YouTube,X,Facebook"


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


class Command(BaseCommand):
    help = "Create a sandbox account with connected platforms and print its key as JSON."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--plan", default="STARTER", help="FREE, STARTER, INFLUENCER or PRO")
        parser.add_argument("--platforms", default=ALL_NETWORKS, help="comma-separated networks")
        parser.add_argument(
            "--disconnected", default="", help="comma-separated networks to mark disconnected"
        )

    def handle(self, *args, plan: str, platforms: str, disconnected: str, **options):
        call_command("migrate", "sandbox", database="sandbox", interactive=False, verbosity=0)
        try:
            account, plaintext = services.account_create(
                plan=plan, networks=_names(platforms), disconnected=_names(disconnected)
            )
        except ApiError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps(shapes.account_created(account, plaintext)))
