"""Drafts: a post saved without sending it. No Taisly request is made for a draft; its video is
kept (and counts against the workspace's kept-video storage) until the draft is sent or
deleted. Retention (``posting.sending.cleanup``) never touches a draft."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.access import two_factor_locked
from accounts.models import Membership, User, Workspace
from posting.models.mirror import Platform
from posting.models.posts import Post, thumbnail_version


class ReviewState(models.TextChoices):
    """Where a draft is in its workspace's approval workflow ("" : a plain draft)."""

    NONE = "", _("Draft")
    IN_REVIEW = "in_review", _("In review")
    CHANGES_REQUESTED = "changes_requested", _("Changes requested")
    APPROVED = "approved", _("Approved")
    HELD = "held", _("Approved, held: its time passed")


class ReviewStage(models.TextChoices):
    NONE = "", _("None")
    INTERNAL = "internal", _("Internal review")
    CLIENT = "client", _("Client review")


#: The stages of each approval workflow (accounts.Workspace.ApprovalWorkflow), in order.
WORKFLOW_STAGES: dict[str, tuple[str, ...]] = {
    "none": (),
    "internal": (ReviewStage.INTERNAL,),
    "client": (ReviewStage.CLIENT,),
    "internal_client": (ReviewStage.INTERNAL, ReviewStage.CLIENT),
}


def review_stages(workflow: str) -> tuple[str, ...]:
    return WORKFLOW_STAGES.get(workflow, ())


class Draft(models.Model):
    """A post being prepared: the caption (and any caption per network), the accounts, a
    planned time and cover, and its video. Sending it makes the post (``posting.sending.drafts``)
    and records which one, so a second click finds the post the first made."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="drafts")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="drafts",
    )
    description = models.TextField(_("description"), blank=True)
    #: A caption per network ({"X": "…"}) where it differs from ``description``; empty when one
    #: caption is for all.
    captions = models.JSONField(default=dict, blank=True)
    cover_second = models.FloatField(_("cover frame (seconds)"), default=0)
    #: The planned time; None for "post now" once sent. The calendar shows drafts by it.
    scheduled_at = models.DateTimeField(_("planned for"), null=True, blank=True)
    target_platforms = models.ManyToManyField(Platform, blank=True, related_name="drafted_for")

    video = models.FileField(upload_to="posts/%Y/%m/", max_length=300, blank=True)
    video_name = models.CharField(_("file name"), max_length=255, blank=True)
    video_size = models.BigIntegerField(_("size"), default=0)
    #: The SHA-256 of the video's bytes (hex), taken as it was uploaded: which video reviewers
    #: approved (a name and a size can be copied). Empty for a draft saved before it was kept.
    video_sha256 = models.CharField(max_length=64, blank=True)
    video_duration = models.FloatField(_("duration"), null=True, blank=True)
    video_width = models.PositiveIntegerField(null=True, blank=True)
    video_height = models.PositiveIntegerField(null=True, blank=True)
    #: The frame at ``cover_second``, made by a worker as a post's is (posting.sending.thumbnails)
    #: and made again when the video or the cover changes; empty while it is being made and
    #: without a video. Deleted with the draft; handed to the post when the draft is sent.
    thumbnail = models.FileField(upload_to="thumbnails/%Y/%m/", max_length=300, blank=True)

    #: The compose form's one-time id: a double click saves one draft.
    idempotency_token = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    #: Set when the draft was sent: the post it became (the video now belongs to it).
    sent_post = models.ForeignKey(
        Post, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    #: The scheduled post this draft came from: its content was edited in a workspace with review,
    #: so it was taken off Taisly's schedule and came back to review as this draft, with its video
    #: (``posting.sending.rereview``). One draft per post: a resumed worker never makes a second.
    from_post = models.OneToOneField(
        Post, null=True, blank=True, on_delete=models.SET_NULL, related_name="review_draft"
    )

    # --- review (posting.approvals): a draft in review never reaches Taisly ---
    review_state = models.CharField(
        _("review"), max_length=20, choices=ReviewState.choices, default="", blank=True
    )
    review_stage = models.CharField(
        _("review stage"), max_length=10, choices=ReviewStage.choices, default="", blank=True
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    #: The last decision: who made it (a member, or the address a review link was sent to),
    #: when, and what they wrote.
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_by_address = models.EmailField(max_length=254, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)
    #: The stage the last decision was made at: words said at the internal stage are the team's.
    decided_stage = models.CharField(max_length=10, choices=ReviewStage.choices, blank=True)
    #: Why an approved draft was not sent (its planned time had passed), for the author.
    held_reason = models.TextField(blank=True)
    #: Members who hear of its review's decisions and comments (``posting.alerts.watchers``):
    #: added on their own when they write, submit, decide, comment or are mentioned; a row
    #: with ``DraftWatch.watching`` false is one who stopped, and is not added again on its own.
    watchers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="posting.DraftWatch",
        blank=True,
        related_name="watched_drafts",
    )

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(
                fields=["workspace", "review_state", "submitted_at"],
                condition=models.Q(sent_at__isnull=True) & ~models.Q(review_state=""),
                name="draft_review_idx",
            ),
            models.Index(
                fields=["workspace", "-updated_at", "-id"],
                condition=models.Q(sent_at__isnull=True),
                name="draft_open_idx",
            ),
            models.Index(
                fields=["workspace", "scheduled_at"],
                condition=models.Q(sent_at__isnull=True),
                name="draft_planned_idx",
            ),
        ]
        verbose_name = _("draft")
        verbose_name_plural = _("drafts")

    def __str__(self) -> str:
        return self.description[:60] or str(self.code)

    @property
    def thumbnail_version(self) -> str:
        """As ``Post.thumbnail_version``: the thumbnail's random file name, for its URL."""
        return thumbnail_version(self.thumbnail.name if self.thumbnail else "")

    def waits_for_review(self) -> bool:
        """In review or sent back with changes requested: it cannot reach Taisly."""
        return self.review_state in (ReviewState.IN_REVIEW, ReviewState.CHANGES_REQUESTED)

    @property
    def review_round(self) -> str:
        """Which submission reviewers are looking at: a decision form sends it back, so an
        edit made after the page was opened (a new submission) is not approved unseen."""
        return str(int(self.submitted_at.timestamp() * 1_000_000)) if self.submitted_at else ""

    def version_author_id(self) -> int | None:
        """Who wrote the version under review (the last ``DraftVersion``): list pages annotate
        it as ``last_version_author_id`` (``posting.approvals.selectors``), else one query."""
        if not hasattr(self, "last_version_author_id"):
            last = self.versions.order_by("-number").values_list("author_id", flat=True)
            self.last_version_author_id = last.first()
        return self.last_version_author_id

    @property
    def review_seen(self) -> str:
        """What a decision form sends back: the submission and the stage shown, so a click made
        on a page of an earlier stage is not taken at a later one."""
        return f"{self.review_round}:{self.review_stage}"

    @property
    def decision_internal(self) -> bool:
        """The last decision was the team's (the internal stage): its words are for the team."""
        return self.decided_stage == ReviewStage.INTERNAL

    def may_decide(self, membership) -> bool:
        """Whether this member may approve or request changes now (the rule; the service
        applies it again under lock): never its author nor who wrote the version under review
        (four eyes); owners and editors at the internal stage; members with the reviewer right
        at the client stage."""
        if self.review_state != ReviewState.IN_REVIEW or membership is None:
            return False
        if membership.user_id == self.author_id:
            return False
        if not self._may_decide_by_role(membership):
            return False
        return membership.user_id != self.version_author_id()

    def wrote_this_version(self, membership) -> bool:
        """A member the role would let decide, refused as the version's writer (four eyes):
        the page says so instead of showing buttons the service would refuse."""
        return (
            self.review_state == ReviewState.IN_REVIEW
            and membership is not None
            and membership.user_id != self.author_id
            and self._may_decide_by_role(membership)
            and membership.user_id == self.version_author_id()
        )

    def _may_decide_by_role(self, membership) -> bool:
        if self.review_stage == ReviewStage.INTERNAL:
            return membership.can_write
        if self.review_stage == ReviewStage.CLIENT:
            return bool(membership.can_approve)
        return False

    @property
    def time_passed(self) -> bool:
        """Waiting for a decision past its planned time: approving it holds it (its author then
        chooses a new time), it is never sent late."""
        return (
            self.review_state == ReviewState.IN_REVIEW
            and self.scheduled_at is not None
            and self.scheduled_at <= timezone.now()
        )

    def network_captions(self) -> tuple[list[str], list[tuple[str, str]]]:
        """The networks of its accounts (sorted) and (network, the caption it gets) for each:
        the network's own caption, else the one for all. Reads ``target_platforms.all()`` (a
        prefetch serves it)."""
        networks = sorted({p.network for p in self.target_platforms.all()})
        return networks, [(n, (self.captions or {}).get(n) or self.description) for n in networks]

    def review_content(self, platforms) -> tuple:
        """What a reviewer approves (``platforms``: the accounts it goes to), comparable with
        ``DraftVersion.content``."""
        return (
            self.description,
            dict(sorted((self.captions or {}).items())),
            sorted(p.pk for p in platforms),
            round(self.cover_second or 0, 3),
            self.video_name,
            self.video_size,
            self.video_sha256,
        )


class DraftVersion(models.Model):
    """What a draft said each time it was submitted or edited in review: shown to reviewers so
        they see what changed. Video files are not copied: its name, size and SHA-256 say which it
    was. ``networks`` is what reviewers read; ``platform_ids`` the accounts they approved."""

    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    description = models.TextField(blank=True)
    captions = models.JSONField(default=dict, blank=True)
    networks = models.JSONField(default=list, blank=True)
    platform_ids = models.JSONField(default=list, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    cover_second = models.FloatField(default=0)
    video_name = models.CharField(max_length=255, blank=True)
    video_size = models.BigIntegerField(default=0)
    video_sha256 = models.CharField(max_length=64, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["draft", "number"], name="one_draft_version_number")
        ]
        verbose_name = _("draft version")
        verbose_name_plural = _("draft versions")

    def __str__(self) -> str:
        return f"{self.draft_id} v{self.number}"

    def content(self) -> tuple:
        """What a reviewer approves (the time apart: a held post's new time keeps it)."""
        return (
            self.description,
            dict(sorted(self.captions.items())),
            sorted(self.platform_ids),
            round(self.cover_second, 3),
            self.video_name,
            self.video_size,
            self.video_sha256,
        )

    @classmethod
    def record(cls, draft: Draft, author, platforms) -> DraftVersion:
        """The draft as it is now, going to ``platforms``, as its next version (under the
        caller's draft row lock)."""
        last = cls.objects.filter(draft=draft).order_by("-number").first()
        return cls.objects.create(
            draft=draft,
            number=(last.number + 1) if last else 1,
            description=draft.description,
            captions=dict(draft.captions or {}),
            networks=sorted(p.network for p in platforms),
            platform_ids=sorted(p.pk for p in platforms),
            scheduled_at=draft.scheduled_at,
            cover_second=draft.cover_second or 0,
            video_name=draft.video_name,
            video_size=draft.video_size,
            video_sha256=draft.video_sha256,
            author=author if getattr(author, "is_authenticated", False) else None,
        )


def waiting_for(user: User, memberships: list[Membership]) -> Q | None:
    """The drafts ``user`` may decide on now, across ``memberships`` (None: none): the
    internal stage where they write, the client stage where they have the reviewer right, never
    their own posts nor a version they wrote (the same rule as ``Draft.may_decide``; the
    drafts need ``with_version_author``)."""
    internal = [m.workspace_id for m in memberships if m.can_write]
    client = [m.workspace_id for m in memberships if m.can_approve]
    if not internal and not client:
        return None
    where = Q(workspace_id__in=internal, review_stage=ReviewStage.INTERNAL) | Q(
        workspace_id__in=client, review_stage=ReviewStage.CLIENT
    )
    wrote_version = Q(last_version_author_id=user.pk) & Q(last_version_author_id__isnull=False)
    return where & Q(review_state=ReviewState.IN_REVIEW) & ~Q(author_id=user.pk) & ~wrote_version


def with_version_author(drafts: models.QuerySet[Draft]) -> models.QuerySet[Draft]:
    """``last_version_author_id`` on each draft, in the same query: who wrote the version under
    review, whom ``Draft.may_decide`` refuses as the service does (four eyes)."""
    last = DraftVersion.objects.filter(draft=models.OuterRef("pk")).order_by("-number")
    return drafts.annotate(last_version_author_id=models.Subquery(last.values("author_id")[:1]))


def waiting_count(user: User, memberships: list[Membership]) -> int:
    """How many posts wait for ``user``'s decision across ``memberships`` (pass one membership
    for one workspace), leaving out workspaces locked until two-factor sign-in: one query,
    none when they may decide nothing."""
    where = waiting_for(user, memberships)
    if where is None:
        return 0
    return (
        with_version_author(Draft.objects.filter(sent_at__isnull=True))
        .filter(where)
        .exclude(two_factor_locked(user, workspace="workspace"))
        .count()
    )
