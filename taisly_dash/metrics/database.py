"""What the workers do, read from the database at scrape time: one query per family (seven in
all, whatever the number of rows; ``tests/unit/test_metrics.py`` pins it), so any web process
answers for every machine and the workers need no exporter of their own.

Counts over a window are gauges of the last hour rather than counters: the ledger is pruned
(``LEDGER_RETAIN_DAYS``) and alerts go with their posts, and a counter that goes down reads as a
reset to Prometheus. Labels name connections and workspaces by id, code and the key's hint
(``taisly_…a1b2``, what the pages show), never by the key.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_q.models import OrmQ
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from accounts.models import TaislyConnection
from posting.models import Alert, Post, TaislyRequest, WebhookAttempt, WebhookEndpoint
from taisly_dash.health import cluster_names

WINDOW = timedelta(hours=1)


def _count_in_window(now: datetime, **where) -> Subquery:
    """One connection's ledger rows of the last hour (the (connection, started_at) index)."""
    rows = (
        TaislyRequest.objects.filter(
            connection=OuterRef("pk"), started_at__gte=now - WINDOW, **where
        )
        .order_by()
        .values("connection")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


class DatabaseCollector(Collector):
    def __init__(self, *, now: datetime | None = None) -> None:
        self.now = now

    def collect(self):
        now = self.now or timezone.now()
        yield self._queue_depth()
        yield self._uploads_in_flight()
        yield self._sync_lag(now)
        yield from self._taisly_requests(now)
        yield self._alerts_raised(now)
        yield from self._webhook_failures(now)

    def _queue_depth(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "taisly_dash_queue_depth",
            "Tasks in a cluster's queue: waiting, or taken by a worker and not yet done.",
            labels=["cluster"],
        )
        depth = dict.fromkeys(cluster_names(), 0)
        for row in OrmQ.objects.order_by().values("key").annotate(n=Count("id")):
            depth[row["key"]] = row["n"]
        for cluster, n in sorted(depth.items()):
            family.add_metric([cluster], n)
        return family

    def _uploads_in_flight(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "taisly_dash_uploads_in_flight",
            "Posts received and not yet sent to Taisly: queued for the uploads cluster, or "
            "being sent.",
            labels=["state"],
        )
        states = [Post.State.QUEUED, Post.State.SENDING]
        counts = dict.fromkeys(states, 0)
        rows = Post.objects.filter(state__in=states).order_by().values("state")
        for row in rows.annotate(n=Count("id")):
            counts[row["state"]] = row["n"]
        for state, n in counts.items():
            family.add_metric([str(state)], n)
        return family

    def _sync_lag(self, now: datetime) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "taisly_dash_sync_lag_seconds",
            "Seconds since a workspace's history was last read from Taisly (since its key was "
            "connected when never), for every workspace with a working key.",
            labels=["workspace"],
        )
        rows = (
            TaislyConnection.objects.filter(status=TaislyConnection.Status.ACTIVE)
            .order_by("workspace__code")
            .values_list(
                "workspace__code", "connected_at", "workspace__mirror_state__history_synced_at"
            )
        )
        for code, connected_at, synced_at in rows:
            family.add_metric(
                [str(code)], max((now - (synced_at or connected_at)).total_seconds(), 0)
            )
        return family

    def _taisly_requests(self, now: datetime):
        labels = ["connection", "workspace", "hint"]
        requests = GaugeMetricFamily(
            "taisly_dash_taisly_requests_last_hour",
            "Requests made to Taisly with a connection's key in the last hour (the governor's "
            "sliding hour; connections holding one key share its limit).",
            labels=labels,
        )
        limited = GaugeMetricFamily(
            "taisly_dash_taisly_rate_limited_last_hour",
            "Of those, the ones Taisly answered 429.",
            labels=labels,
        )
        limits = GaugeMetricFamily(
            "taisly_dash_taisly_hourly_limit",
            "The requests a connection's plan allows an hour.",
            labels=labels,
        )
        rows = (
            TaislyConnection.objects.order_by("pk")
            .annotate(
                requests=_count_in_window(now),
                limited=_count_in_window(now, status=429),
            )
            .values_list("pk", "workspace__code", "key_hint", "plan", "requests", "limited")
        )
        for pk, code, hint, plan, n, n_limited in rows:
            values = [str(pk), str(code), hint]
            requests.add_metric(values, n)
            limited.add_metric(values, n_limited)
            limits.add_metric(values, TaislyConnection.HOURLY_LIMITS.get(plan, 50))
        yield requests
        yield limited
        yield limits

    def _alerts_raised(self, now: datetime) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "taisly_dash_alerts_raised_last_hour",
            "Alerts raised in the last hour, by kind.",
            labels=["kind"],
        )
        counts = dict.fromkeys(Alert.Kind.values, 0)
        rows = Alert.objects.filter(created_at__gte=now - WINDOW).order_by().values("kind")
        for row in rows.annotate(n=Count("id")):
            counts[row["kind"]] = row["n"]
        for kind, n in counts.items():
            family.add_metric([kind], n)
        return family

    def _webhook_failures(self, now: datetime):
        tries = GaugeMetricFamily(
            "taisly_dash_webhook_failures_last_hour",
            "Webhook delivery tries that failed in the last hour (an error status, a timeout, a "
            "refused address).",
        )
        tries.add_metric([], WebhookAttempt.objects.filter(at__gte=now - WINDOW, ok=False).count())
        yield tries
        failing = GaugeMetricFamily(
            "taisly_dash_webhook_endpoints_failing",
            "Enabled webhook endpoints whose every delivery has failed for a while (turned off "
            "after WEBHOOK_DISABLE_AFTER_DAYS).",
        )
        failing.add_metric(
            [],
            WebhookEndpoint.objects.filter(enabled=True, failing_since__isnull=False).count(),
        )
        yield failing
