"""Each alert as pages, emails and webhooks tell it: in the reader's language, what it means and
what to do, with links back to the post.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from posting.models import Alert, Platform, Post, reasons
from posting.taisly.codes import explain

Kind = Alert.Kind


#: What to do, per kind (the code's own explanation, when we know it, comes first).
FIXES = {
    Kind.FAILED: gettext_lazy(
        "Fix what the code says, then use “Retry failed platforms” on the post to send it to "
        "the failed accounts again."
    ),
    Kind.STUCK: gettext_lazy(
        "Taisly has not posted it yet. Check the account in Taisly's app; if it stays pending, "
        "the post may need to be made again."
    ),
    Kind.SEND_FAILED: gettext_lazy(
        "The video never reached Taisly. Open the post and send it again once the reason is fixed."
    ),
    Kind.NEEDS_CHECK: gettext_lazy(
        "Taisly may have posted it already. Open the post, compare with Taisly's history and "
        "decide: adopt, send again or give up."
    ),
    Kind.EDIT_FAILED: gettext_lazy(
        "The post stays scheduled as it was. Open it and edit it again if you still want the "
        "change."
    ),
    Kind.CONNECTION_INVALID: gettext_lazy(
        "Taisly no longer accepts this workspace's key (it was revoked or regenerated "
        "elsewhere). An owner must connect a working key on the Taisly key page."
    ),
    Kind.APPROVED: gettext_lazy(
        "Approved: it is sent or scheduled as you chose, or waits for the next review."
    ),
    Kind.CHANGES_REQUESTED: gettext_lazy(
        "Open the draft, make the changes asked for, then submit it for review again."
    ),
    Kind.COMMENTED: gettext_lazy("Open the draft to read the comment and answer it."),
    Kind.HELD: gettext_lazy(
        "It was approved after its planned time, so it was not sent. Open the draft, choose a "
        "new time and send it."
    ),
    Kind.RETURNED: gettext_lazy(
        "Review was turned off: the post is a draft again. Open it to post or schedule it."
    ),
    Kind.REVIEW_REQUESTED: gettext_lazy(
        "A post waits for your review. Open the draft to approve it or request changes."
    ),
    Kind.BLOCKED: gettext_lazy(
        "Taisly refused requests for over an hour because the key's hourly limit was used up. "
        "Background sync waits until it works again; fewer “Sync now” clicks help."
    ),
}


@dataclass
class AlertView:
    """One alert as pages, emails and webhooks tell it."""

    alert: Alert
    read: bool
    explanation: str
    fix: str

    @property
    def post(self) -> Post | None:
        return self.alert.post

    @property
    def platform(self) -> Platform | None:
        return self.alert.platform


def describe(alert: Alert, *, read: bool = False) -> AlertView:
    explanation = explain(alert.error_code) if alert.error_code else ""
    if alert.kind == Kind.STUCK:
        explanation = _("Still pending at Taisly long after it was due.")
    elif alert.kind in Alert.POST_KINDS:
        explanation = reasons.shown(alert.message)
    elif (alert.kind == Kind.FAILED and not explanation) or alert.kind in Alert.REVIEW_KINDS:
        explanation = alert.message
    return AlertView(alert=alert, read=read, explanation=explanation, fix=str(FIXES[alert.kind]))


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def post_url(alert: Alert) -> str:
    if alert.post_id is None and alert.draft_id is not None:
        return absolute(
            reverse(
                "posting:draft",
                kwargs={"code": alert.workspace.code, "draft_code": alert.draft.code},
            )
        )
    if alert.post_id is None:
        return absolute(reverse("posting:alerts", kwargs={"code": alert.workspace.code}))
    return absolute(
        reverse("posting:post", kwargs={"code": alert.workspace.code, "post_code": alert.post.code})
    )
