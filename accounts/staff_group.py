"""The "Support staff" group: what staff see and may change in the Django admin.

Staff oversee every workspace: oversight's pages read everything, and the admin is where a
staff change happens (README, "Django admin"). A staff account without permissions sees "You
don't have permission to view or edit anything" there, so staff get this group:

- view every model of accounts and posting (and django-q2's tasks and schedules), each admin
  class still hiding what it hides (keys, webhook secrets, two-factor secrets) and refusing
  what it refuses (the ledger and the audit log are read only);
- change workspaces (a name, whether two-factor is required) and people (deactivate, a name,
  a time zone), and delete an invitation: the support requests staff answer;
- nothing else: no adding or deleting workspaces, people or memberships (a person deletes their
  own account, roles change on a workspace's members page), and no rights: ``UserAdmin`` keeps
  staff, superuser, groups, permissions and passwords to superusers. Superusers do the rest.

``manage.py staff_group [email ...]`` makes or updates the group and puts those staff in it;
the demo puts staff@demo.test in it.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

GROUP_NAME = "Support staff"

#: Apps whose every model staff may view.
VIEW_APPS = ("accounts", "posting", "django_q")
#: (app, model, action) beyond viewing.
CHANGES = (
    ("accounts", "workspace", "change"),
    ("accounts", "user", "change"),
    ("accounts", "invitation", "delete"),
)


def support_group() -> Group:
    """The group with exactly the permissions above (made or brought up to date)."""
    group, _created = Group.objects.get_or_create(name=GROUP_NAME)
    wanted = Q(content_type__app_label__in=VIEW_APPS, codename__startswith="view_")
    for app, model, action in CHANGES:
        wanted |= Q(content_type__app_label=app, codename=f"{action}_{model}")
    group.permissions.set(Permission.objects.filter(wanted))
    return group
