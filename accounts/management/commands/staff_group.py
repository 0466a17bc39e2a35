"""Make or update the "Support staff" group (accounts/staff_group.py) and put staff in it."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.staff_group import support_group


class Command(BaseCommand):
    help = "Make or update the Support staff group and add the given staff accounts to it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("emails", nargs="*", help="staff accounts to put in the group")

    def handle(self, *args, emails: list[str], **options) -> None:
        group = support_group()
        for email in emails:
            user = User.objects.filter(email__iexact=email, is_staff=True).first()
            if user is None:
                raise CommandError(f"No staff account {email}: set is_staff first.")
            user.groups.add(group)
        self.stdout.write(f"{group.name}: {group.permissions.count()} permissions.")
