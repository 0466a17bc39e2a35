"""What the sending room's pages read: the compose form's choices, the post page's results,
targets, group, audit trail and retry box, and the drafts (their list, and the planned ones
between two times, for a calendar)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Paginator
from django.db.models import BigIntegerField, Count, Exists, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from accounts.audit import audit_rows
from accounts.models import AuditEvent, TaislyConnection, Workspace
from posting.models import Draft, Platform, Post, PostResult
from posting.reporting import display
from posting.sending.limits import Storage, kept_drafts, kept_videos, storage_limit
from posting.sending.retry import RetryPlan, retry_plan


@dataclass(frozen=True)
class RetryBox:
    """The post page's "Retry failed platforms" box: the plan (None when nothing failed), the
    retries already made of this post, and the post this one retries (if it is a retry)."""

    plan: RetryPlan | None
    retries: list[Post]
    retry_of: Post | None


def retry_box(post: Post, results: list[PostResult]) -> RetryBox:
    """The box for ``post``, from the ``results`` the page has already read (with their
    platforms): one query for the retries (each with its summary: a retry that failed reads
    "Failed", not "Sent"), one for the original when this is a retry."""
    failed = any(r.status == PostResult.Status.FAILED for r in results)
    Status = PostResult.Status
    retries = list(
        post.retries.annotate(
            **{
                f"n_{status.lower()}": Count("results", filter=Q(results__status=status))
                for status in (Status.PENDING, Status.SUCCESS, Status.FAILED)
            }
        ).order_by("created_at", "id")
    )
    for retry in retries:
        statuses = (
            [Status.PENDING] * retry.n_pending
            + [Status.SUCCESS] * retry.n_success
            + [Status.FAILED] * retry.n_failed
        )
        retry.summary = display.summary_of(retry.state, statuses)
    return RetryBox(
        plan=retry_plan(post, results) if failed else None,
        retries=retries,
        retry_of=post.retry_of,
    )


def compose_platforms(workspace: Workspace) -> list[Platform]:
    """The workspace's platforms, for the compose form's choices."""
    return list(Platform.objects.filter(workspace=workspace))


@dataclass(frozen=True)
class ComposeState:
    """What the compose form says up front: whether there is a working key, and how much of
    its kept-video storage the workspace uses."""

    has_key: bool
    storage: Storage


def compose_state(workspace: Workspace) -> ComposeState:
    """The workspace's key status and kept-video storage, in one query."""
    kept = (
        kept_videos()
        .filter(workspace=OuterRef("pk"))
        .order_by()
        .values("workspace")
        .annotate(total=Sum("video_size"))
        .values("total")
    )
    drafts = (
        kept_drafts()
        .filter(workspace=OuterRef("pk"))
        .order_by()
        .values("workspace")
        .annotate(total=Sum("video_size"))
        .values("total")
    )
    active = TaislyConnection.objects.filter(
        workspace=OuterRef("pk"), status=TaislyConnection.Status.ACTIVE
    )
    has_key, used = (
        Workspace.objects.filter(pk=workspace.pk)
        .annotate(
            has_key=Exists(active),
            used=Coalesce(Subquery(kept, output_field=BigIntegerField()), Value(0))
            + Coalesce(Subquery(drafts, output_field=BigIntegerField()), Value(0)),
        )
        .values_list("has_key", "used")
        .get()
    )
    return ComposeState(has_key=has_key, storage=Storage(used=used, limit=storage_limit()))


def post_results(post: Post) -> list[PostResult]:
    """The post's results with their platforms, in the post page's order (by network). A
    group's lead (a caption per network) has its members' results too: it is one post."""
    return list(
        PostResult.objects.filter(Q(post=post) | Q(post__group=post))
        .select_related("platform", "repost_of")
        .order_by("platform__network", "id")
    )


def post_targets(post: Post) -> list[Platform]:
    """The platforms chosen for the post (what the page shows before Taisly reports results)."""
    return list(
        Platform.objects.filter(Q(targeted_by=post) | Q(targeted_by__group=post))
        .distinct()
        .order_by("network", "id")
    )


def post_events(post: Post, workspace: Workspace, *, limit: int) -> list[AuditEvent]:
    """The post's audit trail, newest first, at most ``limit`` events, in words (``audit_rows``)."""
    return audit_rows(
        AuditEvent.objects.filter(workspace=workspace, target=str(post.code)).order_by(
            "-created_at", "-id"
        )[:limit]
    )


def post_group_members(post: Post) -> list[Post]:
    """The other Taisly posts of ``post``'s group (a caption per network), with their
    platforms; empty for a post with one caption. Two queries when there are any."""
    if post.group_id is not None:
        return []
    return list(Post.objects.filter(group=post).prefetch_related("target_platforms").order_by("id"))


#: How many versions of a draft in review its page shows (the latest first).
VERSIONS_SHOWN = 20


def draft_versions(draft: Draft) -> list:
    """What the draft said at each submission and edit in review, the latest first (one
    query)."""
    return list(draft.versions.select_related("author")[:VERSIONS_SHOWN])


def group_taisly_ids(lead: Post, members: list[Post]) -> list[tuple[str, str]]:
    """(networks, Taisly id or "") for the lead and each member of a group, in that order: the
    post page shows which Taisly post carries which networks. One query (the lead's platforms;
    the members' come prefetched by ``post_group_members``)."""
    return [
        (", ".join(p.network for p in row.target_platforms.all()), row.taisly_id or "")
        for row in [lead, *members]
    ]


def drafts_page(workspace: Workspace, number, *, per_page: int):
    """Page ``number`` of the workspace's open drafts, the latest changed first, each with its
    author and accounts: three queries (the count, the drafts, their accounts)."""
    drafts = (
        Draft.objects.filter(workspace=workspace, sent_at__isnull=True)
        .select_related("author")
        .prefetch_related("target_platforms")
        .order_by("-updated_at", "-id")
    )
    return Paginator(drafts, per_page).get_page(number)


def drafts_planned_between(workspace: Workspace, start, end) -> list[dict]:
    """Open drafts with a planned time in [start, end), as plain values for a calendar: code,
    description, planned time and networks. One query."""
    rows = (
        Draft.objects.filter(
            workspace=workspace, sent_at__isnull=True, scheduled_at__gte=start, scheduled_at__lt=end
        )
        .order_by("scheduled_at", "id")
        .values("code", "description", "scheduled_at", "target_platforms__network")
    )
    drafts: dict = {}
    for row in rows:
        entry = drafts.setdefault(
            row["code"],
            {
                "code": row["code"],
                "description": row["description"],
                "scheduled_at": row["scheduled_at"],
                "networks": [],
            },
        )
        network = row["target_platforms__network"]
        if network and network not in entry["networks"]:
            entry["networks"].append(network)
    return list(drafts.values())


def review_draft_of(post: Post) -> Draft | None:
    """The draft a scheduled post went back to review as, once its content was edited in a
    workspace with review (``posting.sending.rereview``); None for any other post."""
    return Draft.objects.filter(from_post_id=post.group_id or post.pk).only("code").first()
