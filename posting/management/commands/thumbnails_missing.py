"""`manage.py thumbnails_missing`: queue a thumbnail for every post that keeps its video and has
none yet (run once after upgrading to a version with thumbnails; harmless to run again)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from posting.sending.thumbnails import thumbnails_missing_enqueue


class Command(BaseCommand):
    help = "Queue a thumbnail for every post that keeps its video and has none."

    def handle(self, *args, **options) -> None:
        count = thumbnails_missing_enqueue()
        self.stdout.write(f"{count} thumbnails queued for the default worker.")
