"""`manage.py sandbox_clock --offset SECONDS` (or `--reset`): move the sandbox clock.

Same as `POST /control/clock {"offset": seconds}`, for callers that reach the sandbox's database
rather than its port (the demo seed, which may run before the sandbox server starts). Prints the
sandbox's time afterwards as JSON: {"now", "offsetSeconds"}.
"""

from __future__ import annotations

import json
import math

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from sandbox import clock


class Command(BaseCommand):
    help = "Set the sandbox clock's offset from real time (negative: the past), or reset it."
    requires_system_checks = []

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--offset", type=float, help="seconds from real now; negative = past")
        group.add_argument("--reset", action="store_true", help="back to real time")

    def handle(self, *args, offset: float | None, reset: bool, **options):
        call_command("migrate", "sandbox", database="sandbox", interactive=False, verbosity=0)
        if reset:
            clock.reset()
        else:
            if not math.isfinite(offset):
                raise CommandError("--offset must be a finite number of seconds.")
            clock.set_offset(offset)
        self.stdout.write(
            json.dumps({"now": clock.iso(clock.now()), "offsetSeconds": clock.offset_seconds()})
        )
