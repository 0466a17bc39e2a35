"""Every new account gets a personal workspace, however it is created.

A signal rather than a step in the sign-up view, so that it holds for sign-up, the admin,
``createsuperuser``, the demo seed and test fixtures alike.
"""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import User


@receiver(post_save, sender=User, dispatch_uid="accounts.personal_workspace")
def create_personal_workspace(sender, instance: User, created: bool, raw: bool, **kwargs) -> None:
    if not created or raw:  # raw: loading a fixture, which brings its own rows
        return
    from accounts.services import workspace_create_personal

    workspace_create_personal(user=instance)
