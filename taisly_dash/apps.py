from django.apps import AppConfig


class TaislyDashConfig(AppConfig):
    """The project itself as an app, for what every process needs at start: the request id
    carried from a request into the tasks it queues (taisly_dash.requestid)."""

    name = "taisly_dash"
    verbose_name = "taisly-dash"

    def ready(self) -> None:
        from django_q.signals import post_execute_in_worker, pre_enqueue, pre_execute

        from taisly_dash import requestid

        pre_enqueue.connect(requestid.attach_to_task, dispatch_uid="taisly_dash.request_id")
        pre_execute.connect(requestid.adopt_from_task, dispatch_uid="taisly_dash.request_id")
        post_execute_in_worker.connect(
            requestid.release_after_task, dispatch_uid="taisly_dash.request_id"
        )
