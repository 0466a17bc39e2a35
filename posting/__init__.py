"""posting: what a workspace does with its Taisly account, in rooms by concern.

    taisly/      the door: the API client, the quota governor and ledger, the gateway
    connection/  the workspace's key (connect, regenerate, revoke, disconnect) and quota meter
    mirror/      Taisly's state read into the database: sync, background sync, repost rules
    sending/     compose, upload, forward, reconcile, decisions, retry, cancel, clean up
    alerts/      what raises an alert and who hears of it: the app, email, webhooks
    reporting/   history list, charts, the agency overview's health
    planning/    the calendar
    models/      every model of the app, one module per concern, re-exported

No two rooms import each other, directly or through a third (lint-imports checks it); the
architecture notes draw who uses whom. ``posting.urls`` maps each URL to a room's ``views.py``.
"""
