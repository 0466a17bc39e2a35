"""The history list's filters: a GET form whose values live in the URL.

Every filter is a WHERE on ``Post`` (statuses through EXISTS subqueries on its results), so the
page's query count does not depend on which filters are set or how many posts match.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.inputs import BoundedDateField
from accounts.models import Membership
from posting.models import Network, Post, PostResult

NO_AUTHOR = "taisly"

STATUS_CHOICES = [
    ("", _("Any status")),
    ("pending", _("Pending")),
    ("success", _("Posted everywhere")),
    ("partly_failed", _("Partly failed")),
    ("failed", _("Failed everywhere")),
    (Post.State.QUEUED, Post.State.QUEUED.label),
    (Post.State.SENDING, Post.State.SENDING.label),
    (Post.State.SEND_FAILED, Post.State.SEND_FAILED.label),
    (Post.State.NEEDS_CHECK, Post.State.NEEDS_CHECK.label),
    (Post.State.CANCELLED, Post.State.CANCELLED.label),
]
_LOCAL_STATES = {
    Post.State.QUEUED,
    Post.State.SENDING,
    Post.State.SEND_FAILED,
    Post.State.NEEDS_CHECK,
    Post.State.CANCELLED,
}


def _has(status: str | None = None, *, other_than: str | None = None) -> Exists:
    results = PostResult.objects.filter(post=OuterRef("pk"))
    if status:
        results = results.filter(status=status)
    if other_than:
        results = results.exclude(status=other_than)
    return Exists(results)


class HistoryFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=STATUS_CHOICES, required=False)
    network = forms.ChoiceField(label=_("Network"), required=False)
    start = BoundedDateField(
        label=_("Goes out from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    end = BoundedDateField(
        label=_("Goes out until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    q = forms.CharField(
        label=_("Text"),
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Words in the description")}
        ),
    )
    author = forms.ChoiceField(label=_("Author"), required=False)

    def __init__(self, *args, memberships: list[Membership], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["network"].choices = [("", _("Any network")), *Network.choices]
        # Members are named by their membership code in the URL, not by a user id.
        self._members = {str(m.code): m.user_id for m in memberships}
        self.fields["author"].choices = [
            ("", _("Anyone")),
            *[(str(m.code), str(m.user)) for m in memberships],
            (NO_AUTHOR, _("Taisly's own app")),
        ]

    def clean_q(self) -> str:
        return " ".join(self.cleaned_data["q"].split())

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", _("The end date is before the start date."))
        return data

    @property
    def is_filtering(self) -> bool:
        """Whether any filter that could be read narrows the list."""
        if not self.is_bound:
            return False
        self.is_valid()
        return any(self.cleaned_data.values())

    def apply(self, posts: QuerySet[Post]) -> QuerySet[Post]:
        """``posts`` narrowed by the filters that could be read; one that could not (named
        beside its field) is left out, so the list stays in view."""
        self.is_valid()
        data = self.cleaned_data
        status = data.get("status")
        if status == "pending":
            posts = posts.filter(
                _has(PostResult.Status.PENDING) | (Q(state=Post.State.SENT) & ~_has()),
            )
        elif status == "success":
            posts = posts.filter(_has(PostResult.Status.SUCCESS)).exclude(
                _has(other_than=PostResult.Status.SUCCESS)
            )
        elif status == "failed":
            posts = posts.filter(_has(PostResult.Status.FAILED)).exclude(
                _has(other_than=PostResult.Status.FAILED)
            )
        elif status == "partly_failed":
            posts = posts.filter(_has(PostResult.Status.FAILED), _has(PostResult.Status.SUCCESS))
        elif status in _LOCAL_STATES:
            posts = posts.filter(state=status)
        if network := data.get("network"):
            posts = posts.filter(
                Exists(PostResult.objects.filter(post=OuterRef("pk"), platform__network=network))
                | Exists(
                    Post.target_platforms.through.objects.filter(
                        post=OuterRef("pk"), platform__network=network
                    )
                )
            )
        zone = timezone.get_current_timezone()
        if start := data.get("start"):
            posts = posts.filter(due_at__gte=datetime.combine(start, time.min, tzinfo=zone))
        if end := data.get("end"):
            after = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone)
            posts = posts.filter(due_at__lt=after)
        if text := data.get("q"):
            posts = posts.filter(description__icontains=text)
        author = data.get("author")
        if author == NO_AUTHOR:
            posts = posts.filter(author__isnull=True)
        elif author:
            posts = posts.filter(author_id=self._members.get(author))
        return posts
