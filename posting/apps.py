from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate


class PostingConfig(AppConfig):
    name = "posting"

    def ready(self) -> None:
        from posting.alerts.watchers import client_stage_reached
        from posting.models import Draft, Post
        from posting.reviewlinks.links import on_client_stage
        from posting.schedules import ensure_schedules
        from posting.sending.thumbnails import thumbnail_delete_with_row
        from posting.taisly.governor import connect_ledger

        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="posting.schedules")
        # Every Taisly call, from any caller, becomes a ledger row.
        connect_ledger()
        # A post's or a draft's thumbnail file goes with it (with its workspace too).
        post_delete.connect(
            thumbnail_delete_with_row, sender=Post, dispatch_uid="posting.thumbnails"
        )
        post_delete.connect(
            thumbnail_delete_with_row, sender=Draft, dispatch_uid="posting.draft_thumbnails"
        )
        # A post back at the client's stage: its review links' holders are emailed.
        client_stage_reached.connect(on_client_stage, dispatch_uid="posting.review_links_ready")
