"""The failure inbox across clients: the failed posts of every workspace a person belongs to.

One entry per post as pages show it (a caption group as its lead, with every member's failed
platforms), the ones nobody has looked at yet first, then by when they went out. "Not looked
at yet" is the overview's figure (``posting.reporting.health``: a FAILED result whose
``seen_at`` is empty, set when a member opens its post page), so a workspace's count in the
inbox is the number the agency overview shows for it.

A fixed number of queries whatever the number of workspaces or failures: the memberships (the
navigation's, read once per request), the user's authenticators (only when a workspace asks for
two-factor sign-in), the unseen count per workspace, the page's count, the page's posts and
their failed results.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django import forms
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, Workspace
from posting.models import Post, PostResult
from posting.reporting import display
from posting.reporting.selectors import CappedPaginator

Status = PostResult.Status

#: Entries on one page, and the most the page counts (then it says "more than").
PAGE_SIZE = 25
COUNT_CAP = 1000

SHOW_ALL, SHOW_UNSEEN = "all", "unseen"


class FailureFilterForm(forms.Form):
    """The inbox's GET form: which workspaces (none ticked: all of them) and which failures."""

    w = forms.MultipleChoiceField(
        label=_("Workspaces"), required=False, widget=forms.CheckboxSelectMultiple
    )
    show = forms.ChoiceField(
        label=_("Show"),
        required=False,
        choices=[(SHOW_ALL, _("All failures")), (SHOW_UNSEEN, _("Not looked at yet"))],
        widget=forms.RadioSelect,
    )

    def __init__(self, data, *, workspaces: list[Workspace]) -> None:
        super().__init__(data)
        self.fields["w"].choices = [(str(w.code), w.name) for w in workspaces]

    def chosen(self, workspaces: list[Workspace]) -> list[Workspace]:
        """The ticked workspaces, or all of them (also when the choice could not be read: the
        page names the error and loses nothing)."""
        codes = set(self.cleaned_data.get("w") or []) if self.is_bound else set()
        return [w for w in workspaces if str(w.code) in codes] or workspaces

    @property
    def unseen_only(self) -> bool:
        return self.is_bound and self.cleaned_data.get("show") == SHOW_UNSEEN


@dataclass
class FailedNetwork:
    network: str
    code: str
    explanation: str  # the sentence for Taisly's code, "" when it is not one we know
    message: str  # what Taisly said beside it
    unseen: bool


@dataclass
class Entry:
    post: Post
    workspace: Workspace
    posts_url: str  # the workspace's posts ("/w/<code>/posts/"): the thumbnail's and the link's
    went_out: datetime
    unseen: bool
    networks: list[FailedNetwork] = field(default_factory=list)


def _failed_of_lead() -> QuerySet[PostResult]:
    """FAILED results of the post in OuterRef("pk") or of a member of its caption group."""
    return PostResult.objects.filter(status=Status.FAILED).filter(
        Q(post=OuterRef("pk")) | Q(post__group=OuterRef("pk"))
    )


def unseen_by_workspace(workspaces: list[Workspace]) -> dict[int, int]:
    """FAILED results nobody has looked at yet per workspace (the overview's figure): one query."""
    rows = (
        PostResult.objects.filter(
            status=Status.FAILED,
            seen_at__isnull=True,
            post__workspace_id__in=[w.pk for w in workspaces],
        )
        .values("post__workspace_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["post__workspace_id"]: row["n"] for row in rows}


def failed_posts(workspaces: list[Workspace], *, unseen_only: bool) -> QuerySet[Post]:
    """The failed posts of ``workspaces`` as lists show them (caption groups as their lead),
    unseen first, then the latest to go out."""
    posts = (
        Post.objects.filter(workspace__in=[w.pk for w in workspaces], group__isnull=True)
        .filter(Exists(_failed_of_lead()))
        .annotate(
            unseen=Exists(_failed_of_lead().filter(seen_at__isnull=True)),
            went_out=Coalesce("due_at", "sent_at", "created_at"),
        )
    )
    if unseen_only:
        posts = posts.filter(unseen=True)
    return posts.order_by("-unseen", "-went_out", "-id")


def inbox_page(memberships: list[Membership], *, locked: set[int], form: FailureFilterForm, number):
    """Page ``number`` of the failures of the workspaces in ``memberships`` the person may open
    (``locked``: ids of those that ask for two-factor sign-in they have not set up), narrowed by
    ``form`` (validated). Returns the page and its entries."""
    workspaces = [m.workspace for m in memberships if m.workspace_id not in locked]
    chosen = form.chosen(workspaces) if workspaces else []
    posts = failed_posts(chosen, unseen_only=form.unseen_only)
    listed = posts.select_related("workspace").only(
        "code",
        "description",
        "due_at",
        "sent_at",
        "created_at",
        "origin",
        "thumbnail",
        "workspace__code",
        "workspace__name",
    )
    page = CappedPaginator(listed, PAGE_SIZE, counted=posts, cap=COUNT_CAP).get_page(number)
    leads = list(page.object_list)
    by_lead: dict[int, list[PostResult]] = defaultdict(list)
    if leads:
        ids = [p.pk for p in leads]
        results = (
            PostResult.objects.filter(status=Status.FAILED)
            .filter(Q(post_id__in=ids) | Q(post__group_id__in=ids))
            .select_related("platform", "post")
            .only(
                "code",
                "message",
                "status",
                "seen_at",
                "is_repost",
                "post__group_id",
                "platform__network",
            )
            .order_by("platform__network", "id")
        )
        for result in results:
            by_lead[result.post.group_id or result.post_id].append(result)
    urls = {w.pk: reverse("posting:history", kwargs={"code": w.code}) for w in workspaces}
    entries = []
    for post in leads:
        entry = Entry(
            post=post,
            workspace=post.workspace,
            posts_url=urls[post.workspace_id],
            went_out=post.went_out,
            unseen=post.unseen,
        )
        for result in by_lead[post.pk]:
            chip = display.chip(result)
            entry.networks.append(
                FailedNetwork(
                    network=chip.network,
                    code=chip.code,
                    explanation=str(chip.explanation),
                    message=result.message,
                    unseen=result.seen_at is None,
                )
            )
        entries.append(entry)
    return page, entries
