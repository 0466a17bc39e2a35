"""A workspace's weekly posting slots: "Mon 09:00" in the workspace's time zone
(``Workspace.time_zone``). "Add to queue" schedules a post at the next free one
(``posting.sending.queue``)."""

from __future__ import annotations

import uuid

from django.core.validators import MaxValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Workspace

#: At most this many slots per workspace: seven a day for a week is 49, more than any team posts,
#: and it bounds the slots page and every next-free-slot search.
SLOTS_MAX = 50


class PostingSlot(models.Model):
    """One weekly slot: a weekday (0 Monday … 6 Sunday) and a clock time, local to the
    workspace."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="slots")
    weekday = models.PositiveSmallIntegerField(_("weekday"), validators=[MaxValueValidator(6)])
    time = models.TimeField(_("time"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["weekday", "time", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "weekday", "time"], name="unique_slot_per_workspace"
            ),
            models.CheckConstraint(condition=models.Q(weekday__lte=6), name="slot_weekday_0_6"),
        ]
        verbose_name = _("posting slot")
        verbose_name_plural = _("posting slots")

    def __str__(self) -> str:
        return f"{self.weekday} {self.time:%H:%M}"
