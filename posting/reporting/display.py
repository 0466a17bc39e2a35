"""How a post's state reads on a page: one summary per post and one chip per platform.

Computed in Python from results already prefetched, so lists add no queries per row.

    local state (QUEUED, SENDING, SEND_FAILED, NEEDS_CHECK, CANCELLED)  → that state
    SENT without results yet                                           → "Waiting for Taisly"
    some FAILED and some SUCCESS                                       → "2 of 3 posted"
    any PENDING                                                        → "Pending"
    all SUCCESS / all FAILED                                           → "Posted" / "Failed"
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from posting.models import Post, PostResult
from posting.taisly.codes import explain

Status = PostResult.Status
State = Post.State

#: Bulma colour per summary kind and per result status.
_KIND_CLASS = {
    "queued": "is-info",
    "sending": "is-info",
    "send_failed": "is-danger",
    "needs_check": "is-warning",
    "cancelled": "is-dark",
    "waiting": "is-light",
    "pending": "is-warning",
    "success": "is-success",
    "failed": "is-danger",
    "partly_failed": "is-danger",
}
STATUS_CLASS = {
    Status.PENDING: "is-warning",
    Status.SUCCESS: "is-success",
    Status.FAILED: "is-danger",
}


@dataclass(frozen=True)
class Summary:
    kind: str
    label: str

    @property
    def css(self) -> str:
        return _KIND_CLASS.get(self.kind, "is-light")


@dataclass(frozen=True)
class Chip:
    result: PostResult | None
    network: str
    label: str
    code: str
    explanation: str
    css: str
    is_repost: bool = False


def labels(choices) -> dict[str, str]:
    # get_FOO_display() rebuilds a dict of every choice on each call; lists call it hundreds
    # of times, so the labels are looked up once per list instead.
    return {value: str(label) for value, label in choices}


def summarise(
    post: Post, results: list[PostResult] | None = None, states: dict | None = None
) -> Summary:
    if results is None:
        results = list(post.results.all())
    return summary_of(post.state, [r.status for r in results], states)


def summary_of(state: str, statuses: list[str], states: dict | None = None) -> Summary:
    """As ``summarise``, from the post's state and its results' statuses (the calendar reads
    only those)."""
    if state != State.SENT:
        label = (states or {}).get(state) or str(State(state).label)
        return Summary(state, label)
    if not statuses:
        return Summary("waiting", _("Waiting for Taisly"))
    succeeded = statuses.count(Status.SUCCESS)
    failed = statuses.count(Status.FAILED)
    total = len(statuses)
    if succeeded and failed:
        return Summary(
            "partly_failed",
            ngettext("%(ok)d of %(total)d posted", "%(ok)d of %(total)d posted", total)
            % {"ok": succeeded, "total": total},
        )
    if Status.PENDING in statuses:
        return Summary("pending", _("Pending"))
    if failed:
        return Summary("failed", _("Failed"))
    return Summary("success", _("Posted"))


def chip(result: PostResult, statuses: dict | None = None, *, cancelled: bool = False) -> Chip:
    """``cancelled``: the post was cancelled, so a result still PENDING will never be posted."""
    network = result.platform.network or _("Unknown network")
    label, css = result_look(result.status, statuses, cancelled=cancelled)
    return Chip(
        result=result,
        network=network,
        label=label,
        code=result.code if result.status == Status.FAILED else "",
        explanation=explain(result.code) if result.status == Status.FAILED else "",
        css=css,
        is_repost=result.is_repost,
    )


def result_look(status: str, statuses: dict | None = None, *, cancelled: bool) -> tuple[str, str]:
    """A result's words and colour. PENDING on a cancelled post reads "Cancelled": Taisly deleted
    the post, so that platform never gets it (its history has nothing more to say)."""
    if cancelled and status == Status.PENDING:
        return str(State.CANCELLED.label), _KIND_CLASS["cancelled"]
    label = (statuses or {}).get(status) or str(Status(status).label)
    return label, STATUS_CLASS.get(status, "is-light")
