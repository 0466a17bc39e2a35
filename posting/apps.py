from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PostingConfig(AppConfig):
    name = "posting"

    def ready(self) -> None:
        from posting.schedules import ensure_schedules
        from posting.taisly.governor import connect_ledger

        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="posting.schedules")
        # Every Taisly call, from any caller, becomes a ledger row.
        connect_ledger()
