"""Review links (a client without an account reviews one draft or a batch) and comments on a
draft (members', and a link holder's).

A link's token exists only in the email it was sent in: the database keeps its SHA-256
(``token_hash``), as for invitations. The token is 32 random bytes, so the hash cannot be
turned back; a stolen database gives no working link.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import EMAIL_MAX_LENGTH, Workspace
from posting.models.drafts import Draft

#: The longest comment (characters): a few paragraphs, bounded like every input.
COMMENT_MAX_LENGTH = 2000


class ReviewLink(models.Model):
    """A signed, expiring, revocable link for one draft or a batch, sent to one address."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="review_links")
    drafts = models.ManyToManyField(Draft, related_name="review_links")
    #: The address it was sent to: a decision made through it is audited with it.
    address = models.EmailField(_("email address"), max_length=EMAIL_MAX_LENGTH)
    token_hash = models.CharField(max_length=64, unique=True)
    #: The reviewer's language: the email and the page are in it.
    language = models.CharField(_("language"), max_length=8)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    #: The holder's last decision on each of its drafts, by the draft's code:
    #: {"<code>": {"decision": "approve" | "changes", "at": "<ISO time>"}}. Kept here, not read
    #: from the draft, so the finished link still says what was decided once a draft is sent
    #: or deleted (written under the link's row lock, with the decision).
    decisions = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_by", "created_at"], name="reviewlink_sender_idx")]
        verbose_name = _("review link")
        verbose_name_plural = _("review links")

    def __str__(self) -> str:
        return f"{self.address} ({self.code})"

    def is_usable(self, now=None) -> bool:
        """Neither revoked nor expired."""
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now

    def locked(self) -> ReviewLink | None:
        """This link's row, locked until the transaction ends (None once deleted): a decision
        made through it checks it on the locked row, so a revoke a moment ago is seen."""
        return ReviewLink.objects.select_for_update().filter(pk=self.pk).first()

    def covers(self, draft: Draft | int) -> bool:
        """Whether ``draft`` (or its id) is one this link was sent for."""
        draft_id = draft if isinstance(draft, int) else draft.pk
        return self.drafts.filter(pk=draft_id).exists()


class Comment(models.Model):
    """A comment on a draft, by a member or by a review link's holder (its address). Internal
    comments are the team's alone: a link holder never sees them."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    #: Set for a link holder's comment: the address the link was sent to.
    author_address = models.EmailField(max_length=EMAIL_MAX_LENGTH, blank=True)
    link = models.ForeignKey(
        ReviewLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="comments"
    )
    body = models.TextField(_("comment"), max_length=COMMENT_MAX_LENGTH)
    internal = models.BooleanField(_("internal (the team only)"), default=False)
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["draft", "created_at"], name="comment_draft_idx")]
        verbose_name = _("comment")
        verbose_name_plural = _("comments")

    def __str__(self) -> str:
        return self.body[:60]

    @property
    def author_label(self) -> str:
        if self.author_id:
            return str(self.author)
        return self.author_address


class DraftWatch(models.Model):
    """One member watching one draft (``Draft.watchers``): they hear of its review's decisions
    and comments in the app and by email per their preference. ``watching`` false: they said
    "Stop watching", which an automatic add does not undo (only their own "Watch" does)."""

    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="watches")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    watching = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["draft", "user"], name="one_watch_per_draft_and_user")
        ]
        verbose_name = _("watcher")
        verbose_name_plural = _("watchers")

    def __str__(self) -> str:
        return (
            f"{self.user_id} {'watches' if self.watching else 'stopped watching'} {self.draft_id}"
        )
