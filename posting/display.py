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

from posting.codes import explain
from posting.models import Post, PostResult

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
_STATUS_CLASS = {
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


def labels(choices) -> dict[str, str]:
    # get_FOO_display() rebuilds a dict of every choice on each call; lists call it hundreds
    # of times, so the labels are looked up once per call of rows() instead.
    return {value: str(label) for value, label in choices}


def summarise(
    post: Post, results: list[PostResult] | None = None, states: dict | None = None
) -> Summary:
    if results is None:
        results = list(post.results.all())
    return summarise_statuses(post, [r.status for r in results], states)


def summarise_statuses(post: Post, statuses: list[str], states: dict | None = None) -> Summary:
    """As ``summarise``, from the results' statuses alone (the calendar reads only those)."""
    if post.state != State.SENT:
        label = (states or {}).get(post.state) or str(post.get_state_display())
        return Summary(post.state, label)
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


def chip(result: PostResult, statuses: dict | None = None) -> Chip:
    network = result.platform.network or _("Unknown network")
    label = (statuses or {}).get(result.status) or str(result.get_status_display())
    return Chip(
        result=result,
        network=network,
        label=label,
        code=result.code if result.status == Status.FAILED else "",
        explanation=explain(result.code) if result.status == Status.FAILED else "",
        css=_STATUS_CLASS.get(result.status, "is-light"),
    )


@dataclass(frozen=True)
class PostRow:
    post: Post
    summary: Summary
    chips: list[Chip]


def local_chips(post: Post, summary: Summary) -> list[Chip]:
    """Before Taisly reports results: the chosen platforms, each with the post's local state."""
    return [
        Chip(None, p.network or _("Unknown network"), summary.label, "", "", summary.css)
        for p in post.target_platforms.all()
    ]


def rows(posts) -> list[PostRow]:
    """One row per post, from posts whose ``results`` (with platforms) and
    ``target_platforms`` are prefetched."""
    out = []
    states, statuses = labels(State.choices), labels(Status.choices)
    for post in posts:
        results = list(post.results.all())
        summary = summarise(post, results, states)
        chips = [chip(r, statuses) for r in results] if results else local_chips(post, summary)
        out.append(PostRow(post, summary, chips))
    return out
