"""`manage.py sandbox --addrport 127.0.0.1:8765`: run the fake Taisly on its own port."""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.test.utils import override_settings

from sandbox import probe, server

SANDBOX_SETTINGS = {
    "ROOT_URLCONF": "sandbox.urls",
    # This process serves only the sandbox: no sessions, CSRF, CSP or HTML error pages.
    "MIDDLEWARE": [
        "sandbox.middleware.drain_request_body",
        "sandbox.middleware.ContentLengthMiddleware",
        "sandbox.faults.fault_middleware",
    ],
    "DEBUG": False,
    # Any host name: it runs on developer machines and in containers, never in production.
    "ALLOWED_HOSTS": ["*"],
}


class Command(BaseCommand):
    help = "Run the Taisly sandbox: a Taisly-compatible API (and /control/) on its own port."
    # The dashboard apps' checks are not the sandbox's business.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--addrport", default="127.0.0.1:8765", help="host:port to listen on (port 0: any)"
        )

    def handle(self, *args, addrport: str, **options):
        if getattr(settings, "PRODUCTION", False):
            raise CommandError(
                "The sandbox has unauthenticated control endpoints: not in production."
            )
        host, _, port = addrport.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        if not port.isdigit():
            raise CommandError(f"--addrport must be host:port, not {addrport!r}")
        try:
            probe.max_video_bytes()
        except ValueError as exc:
            raise CommandError(f"SANDBOX_MAX_VIDEO_MB must be a number: {exc}") from exc

        call_command("migrate", "sandbox", database="sandbox", interactive=False, verbosity=0)
        override_settings(**SANDBOX_SETTINGS).enable()
        # Request threads open and close their own connections. Holding this one open for the
        # process's life means SQLite never sees its last connection close, so it does not
        # checkpoint and delete the WAL (and then re-create it) around every request: two
        # fsyncs a request otherwise.
        connections["sandbox"].ensure_connection()

        def ready(bound_port: int) -> None:
            shown = f"[{host}]" if ":" in host else host
            self.stdout.write(f"Taisly sandbox on http://{shown}:{bound_port}/api/private")
            self.stdout.flush()

        try:
            server.serve(host, int(port), on_bind=ready)
        except KeyboardInterrupt:
            pass
        except OSError as exc:
            raise CommandError(f"Cannot listen on {addrport}: {exc}") from exc
