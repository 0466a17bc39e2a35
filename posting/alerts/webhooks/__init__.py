"""Outgoing webhooks: a workspace's alerts, signed and delivered to its owners' endpoints.

    alert raised ──deliveries_create──> WebhookDelivery (one per endpoint that wants the kind;
        │                               unique per (endpoint, alert): a re-raise makes none)
        └─ on commit: delivery_send(id)   (default cluster)
    delivery_send: claim the try (conditional UPDATE) ─> check the URL ─> POST, no redirects,
        │          a timeout on every request ─> WebhookAttempt (status, ms, first bytes)
        ├─ 2xx ─> delivered; the endpoint is healthy again
        └─ else ─> next try at WEBHOOK_RETRY_SECONDS × 2^(try-1), up to WEBHOOK_MAX_ATTEMPTS;
                   an endpoint failing for WEBHOOK_DISABLE_AFTER_DAYS is disabled, owners told
    every minute (ALERTS_SCHEDULE) ──> deliveries_due(): the retries whose time has come

One module per job, each imported from where it lives (this package re-exports nothing):
``guard`` (where a webhook may go), ``payload`` (the bodies and their signature), ``endpoints``
(the owners' writes, audited) and ``delivery`` (queueing, sending, retrying, turning off).
"""
