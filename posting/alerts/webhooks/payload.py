"""What a webhook carries: ``json`` is the signed event (README, "Outgoing webhooks"), signed with
the endpoint's own secret as HMAC-SHA256 over ``<timestamp>.<body>``; ``slack`` is
``{"text": ...}``, which a Slack incoming-webhook URL takes as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import Workspace
from posting.alerts.display import absolute, describe
from posting.models import Alert, WebhookDelivery, WebhookEndpoint, reasons

SIGNATURE_HEADER = "X-Taisly-Dash-Signature"
TIMESTAMP_HEADER = "X-Taisly-Dash-Timestamp"
EVENT_HEADER = "X-Taisly-Dash-Event"
DELIVERY_HEADER = "X-Taisly-Dash-Delivery"
TEST_EVENT = "test"


def alert_payload(alert: Alert) -> dict:
    """The facts of an alert, as the JSON body carries them (an integration can act on them
    without calling back)."""
    workspace = alert.workspace
    post = alert.post
    platform = alert.platform
    with translation.override("en"):
        view = describe(alert)
    draft = alert.draft if alert.draft_id else None
    return {
        "event": Alert.REVIEW_EVENTS.get(alert.kind, f"alert.{alert.kind}"),
        "id": str(alert.code),
        "kind": alert.kind,
        "workspace": {
            "code": str(workspace.code),
            "name": workspace.name,
            "url": absolute(reverse("posting:alerts", kwargs={"code": workspace.code})),
        },
        "post": (
            {
                "code": str(post.code),
                "taisly_id": post.taisly_id,
                "description": post.description,
                "state": post.state,
                "url": absolute(
                    reverse("posting:post", kwargs={"code": workspace.code, "post_code": post.code})
                ),
            }
            if post
            else None
        ),
        **(
            {
                "draft": {
                    "code": str(draft.code),
                    "description": draft.description,
                    "review_state": draft.review_state,
                    "review_stage": draft.review_stage,
                    "url": absolute(
                        reverse(
                            "posting:draft",
                            kwargs={"code": workspace.code, "draft_code": draft.code},
                        )
                    ),
                }
            }
            if draft
            else {}
        ),
        "platform": (
            {"id": platform.taisly_id, "name": platform.name, "network": platform.network}
            if platform
            else None
        ),
        "network": platform.network if platform else None,
        "code": alert.error_code or None,
        "message": reasons.shown(alert.message) or None,
        "explanation": view.explanation or None,
        "fix": view.fix,
        "times": {
            "raised_at": _iso(alert.created_at),
            "due_at": _iso(post.due_at) if post else None,
            "resolved_at": _iso(alert.resolved_at),
        },
    }


def test_payload(workspace: Workspace) -> dict:
    return {
        "event": TEST_EVENT,
        "id": None,
        "kind": TEST_EVENT,
        "workspace": {
            "code": str(workspace.code),
            "name": workspace.name,
            "url": absolute(reverse("posting:alerts", kwargs={"code": workspace.code})),
        },
        "post": None,
        "platform": None,
        "network": None,
        "code": None,
        "message": "This is a test event from taisly-dash.",
        "explanation": None,
        "fix": None,
        "times": {"raised_at": _iso(timezone.now()), "due_at": None, "resolved_at": None},
    }


def slack_text(payload: dict) -> str:
    """One Slack message with the same facts as the JSON body (English: a channel is shared).

    Every fact is text from outside (a description, names, Taisly's words) and is escaped as
    Slack's formatting rules ask (``&``, ``<``, ``>``), so ``<!channel>`` or a
    ``<url|label>`` of someone else's stays text; only the link this function builds is a link.
    """
    workspace = _slack(payload["workspace"]["name"])
    if payload["event"] == TEST_EVENT:
        return f"taisly-dash test event for workspace *{workspace}*."
    lines = [f"*{workspace}*: {_slack(payload['kind'].replace('_', ' '))}"]
    if payload["post"]:
        description = _slack((payload["post"]["description"] or "(no description)")[:200])
        lines.append(f"Post: <{payload['post']['url']}|{description}>")
    elif payload.get("draft"):
        description = _slack((payload["draft"]["description"] or "(no description)")[:200])
        lines.append(f"Draft: <{payload['draft']['url']}|{description}>")
    if payload["platform"]:
        account = payload["platform"]["name"] or payload["platform"]["id"]
        lines.append(f"Account: {_slack(payload['network'])} {_slack(account)}")
    if payload["code"]:
        lines.append(f"Code: `{_slack(payload['code'])}`")
    for key in ("explanation", "fix"):
        if payload.get(key):
            lines.append(_slack(payload[key]))
    return "\n".join(lines)


def _slack(text) -> str:
    # Slack's "Escaping text": these three characters, and only these, as HTML entities.
    return str(text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def request_for(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> tuple[bytes, dict]:
    """The body and headers of one try (the timestamp is the try's own)."""
    headers = {"Content-Type": "application/json", "User-Agent": "taisly-dash-webhooks/1"}
    if endpoint.format == WebhookEndpoint.Format.SLACK:
        body = json.dumps({"text": slack_text(delivery.payload)}).encode()
        return body, headers
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers |= {
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.code),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(endpoint.secret, timestamp, body),
    }
    return body, headers


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None
