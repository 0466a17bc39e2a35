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
from functools import cache

from django.db.models import Aggregate, JSONField, OuterRef, QuerySet, Subquery
from django.db.models.functions import JSONArray
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
    is_repost: bool = False


def labels(choices) -> dict[str, str]:
    # get_FOO_display() rebuilds a dict of every choice on each call; lists call it hundreds
    # of times, so the labels are looked up once per call of rows() instead.
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
        is_repost=result.is_repost,
    )


@dataclass(frozen=True)
class PostRow:
    post: Post | ListPost
    summary: Summary
    chips: list[Chip]
    #: The description cut to ``ROW_TEXT_CHARS`` (as ``truncatechars`` would, without its
    #: cost per row), and who made the post.
    text: str = ""
    author: str = ""


ROW_TEXT_CHARS = 140


def _cut(text: str, length: int = ROW_TEXT_CHARS) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


#: What a list row shows of a post (and of its author): lists read only these columns.
LIST_FIELDS = (
    "id",
    "code",
    "description",
    "scheduled_at",
    "due_at",
    "state",
    "created_at",
    "author_id",
    "author__display_name",
    "author__email",
)


@dataclass(frozen=True)
class ListPost:
    """A post as a list row shows it: read as values, not as a model, which is cheaper per row
    (docs/architecture.md, "Rules the code keeps")."""

    id: int
    code: object
    description: str
    scheduled_at: object
    due_at: object
    state: str
    created_at: object
    author: str  # "" for posts made in Taisly's own app

    @property
    def pk(self) -> int:
        return self.id


class _JSONArrayAgg(Aggregate):
    """A JSON array of the grouped values: ``jsonb_agg`` on PostgreSQL (jsonb, which Django's
    JSONField reads), ``json_group_array`` on SQLite. Django 5.2 has no portable one, and
    contrib.postgres's is PostgreSQL only."""

    function = "jsonb_agg"
    output_field = JSONField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="json_group_array", **extra_context)


def _json_of(related, *fields):
    """A post's ``related`` rows as one JSON array of [fields…], read inside the post's row."""
    return Subquery(
        related.filter(post=OuterRef("pk"))
        .values("post")
        .annotate(rows=_JSONArrayAgg(JSONArray(*fields)))
        .values("rows"),
        output_field=JSONField(),
    )


def for_list(posts: QuerySet[Post]) -> QuerySet[Post]:
    """``posts`` with what a list row shows, in one query: the post's columns, its author's
    name, and its results and chosen platforms as JSON arrays (``list_rows`` reads them).

    One query rather than three (posts, results, targets). Count and paginate the plain
    queryset, not this one.
    """
    return posts.annotate(**_list_annotations()).values(*LIST_FIELDS, *_list_annotations())


@cache
def _list_annotations() -> dict:
    # Built once: the expressions are the same for every list.
    return {
        "result_rows": _json_of(
            PostResult.objects, "id", "platform__network", "status", "code", "is_repost"
        ),
        "target_rows": _json_of(
            Post.target_platforms.through.objects, "platform_id", "platform__network"
        ),
    }


def list_rows(posts) -> list[PostRow]:
    """One row per post of ``posts`` (``for_list``'s queryset, sliced)."""
    states, statuses = labels(State.choices), labels(Status.choices)
    unknown = _("Unknown network")
    out = []
    for values in posts:
        post = ListPost(
            id=values["id"],
            code=values["code"],
            description=values["description"],
            scheduled_at=values["scheduled_at"],
            due_at=values["due_at"],
            state=values["state"],
            created_at=values["created_at"],
            author=(values["author__display_name"] or values["author__email"] or "")
            if values["author_id"]
            else "",
        )
        # (network, id) order, as the post page lists them.
        mine = sorted(values["result_rows"] or (), key=lambda row: (row[1] or "", row[0]))
        summary = summary_of(post.state, [row[2] for row in mine], states)
        if mine:
            chips = [
                Chip(
                    None,
                    network or unknown,
                    statuses.get(status, status),
                    code if status == Status.FAILED else "",
                    explain(code) if status == Status.FAILED else "",
                    _STATUS_CLASS.get(status, "is-light"),
                    bool(is_repost),
                )
                for _id, network, status, code, is_repost in mine
            ]
        else:
            targets = sorted(values["target_rows"] or (), key=lambda row: (row[1] or "", row[0]))
            chips = [
                Chip(None, network or unknown, summary.label, "", "", summary.css)
                for _id, network in targets
            ]
        out.append(PostRow(post, summary, chips, _cut(post.description), post.author))
    return out
