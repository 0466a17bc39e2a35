"""`manage.py demo`: demo people, workspaces and sandbox Taisly keys, made idempotently.

Run by `make run`. Sandbox accounts are made with the sandbox's own `sandbox_account` command
(through call_command, reading its JSON), never by importing sandbox code: the dashboard meets
the sandbox only as it meets the real Taisly. Keys are stored through the encrypted field and
never printed.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass, field
from io import StringIO

from allauth.account.models import EmailAddress
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from accounts import services
from accounts.crypto import DecryptionError
from accounts.models import Membership, TaislyConnection, User, Workspace
from accounts.staff_group import support_group
from posting.connection import keys
from posting.management.demo import history as demo_history
from posting.mirror.reposts import RepostActionError
from posting.taisly import TaislyAuthError, TaislyError, gateway
from posting.taisly.gateway import TaislyActionError

DEMO_PASSWORD = "demo-pass-123"
DEMO_TIMEZONE = "Asia/Jakarta"
# solo@demo.test signs in with two-factor: add this secret to an authenticator app (or compute a
# code with any TOTP tool). Fixed, so it survives re-seeding; a demo secret, never production.
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

AGENCY = "agency@demo.test"
EDITOR = "editor@demo.test"
CLIENT = "client@demo.test"
SOLO = "solo@demo.test"
STAFF = "staff@demo.test"

PEOPLE = {
    AGENCY: "Ayu (agency)",
    EDITOR: "Eko (editor)",
    CLIENT: "Citra (client)",
    SOLO: "Sari (solo)",
    STAFF: "Staff",
}


@dataclass(frozen=True)
class KeySeed:
    plan: str
    networks: tuple[str, ...]
    disconnected: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkspaceSeed:
    name: str
    key: KeySeed
    members: dict[str, str] = field(default_factory=dict)  # email -> role


CLIENT_WORKSPACES = (
    WorkspaceSeed(
        name="Kopi Senja",
        key=KeySeed(plan="STARTER", networks=("TikTok", "Instagram", "YouTube")),
        members={EDITOR: Membership.Role.EDITOR},
    ),
    WorkspaceSeed(
        name="Batik Nusantara",
        key=KeySeed(
            plan="PRO",
            networks=("TikTok", "Instagram", "YouTube", "X", "Facebook"),
            disconnected=("X",),
        ),
        members={CLIENT: Membership.Role.VIEWER},
    ),
)
SOLO_KEY = KeySeed(plan="STARTER", networks=("TikTok", "Instagram"))


class Command(BaseCommand):
    help = (
        "Create demo logins, workspaces and sandbox Taisly keys (idempotent; refuses to run in "
        "production)."
    )

    def execute(self, *args, **options):
        # Whatever handle() starts (a temporary sandbox) is stopped when the command ends.
        with ExitStack() as self.cleanup:
            return super().execute(*args, **options)

    def handle(self, *args, **options) -> None:
        if settings.PRODUCTION:
            raise CommandError("The demo seed never runs with DJANGO_ENV=production.")
        self.sandbox = self.cleanup.enter_context(
            demo_history.sandbox_for_demo(settings.TAISLY_BASE_URL)
        )
        self.created_accounts = 0
        self.unchecked = False
        people = {email: self._person(email, name) for email, name in PEOPLE.items()}
        # Staff see and change in the admin what support needs (accounts/staff_group.py).
        people[STAFF].groups.add(support_group())

        agency = people[AGENCY]
        keyed = []
        for seed in CLIENT_WORKSPACES:
            workspace = self._client_workspace(seed.name, agency)
            for email, role in seed.members.items():
                Membership.objects.get_or_create(
                    workspace=workspace, user=people[email], defaults={"role": role}
                )
            connection = self._key(workspace, seed.key, actor=agency)
            keyed.append(f"{seed.name} ({connection.get_plan_display()} {connection.key_hint})")

        solo = people[SOLO]
        totp_secret = self._two_factor(solo)
        solo_workspace = self._personal_workspace(solo)
        solo_connection = self._key(solo_workspace, SOLO_KEY, actor=solo)

        self._posting_history(agency)

        kopi, batik = (seed.name for seed in CLIENT_WORKSPACES)
        self.stdout.write(
            "\n".join(
                [
                    f"Demo ready ({self.created_accounts} new sandbox account(s)). "
                    f"Every login's password is {DEMO_PASSWORD}:",
                    f"  {AGENCY:<18} agency, owns {' and '.join(keyed)}",
                    f"  {EDITOR:<18} editor in {kopi}",
                    f"  {CLIENT:<18} client, views {batik}",
                    f"  {SOLO:<18} solo, owns only '{solo_workspace.name}' "
                    f"({solo_connection.get_plan_display()} {solo_connection.key_hint}); "
                    f"two-factor on, authenticator secret {totp_secret}",
                    f"  {STAFF:<18} staff: oversight of every workspace, the admin as "
                    "Support staff",
                ]
            )
        )
        if self.unchecked:
            self.stdout.write(
                f"Stored keys were kept unchecked: Taisly at {settings.TAISLY_BASE_URL} did not "
                "answer (is the sandbox running?)."
            )

    # --- People and workspaces ----------------------------------------------------------------

    def _person(self, email: str, display_name: str) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            # The post_save signal gives every new user a personal workspace.
            user = User.objects.create_user(
                email=email,
                password=DEMO_PASSWORD,
                display_name=display_name,
                timezone=DEMO_TIMEZONE,
                is_staff=email == STAFF,
            )
        # Demo addresses count as verified, so these people can join and be invited.
        EmailAddress.objects.update_or_create(
            user=user, email=user.email, defaults={"verified": True, "primary": True}
        )
        return user

    def _two_factor(self, user: User) -> str:
        """Two-factor sign-in (TOTP and recovery codes) for ``user``; returns the secret."""
        totp = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
        if totp is None:
            TOTP.activate(user, DEMO_TOTP_SECRET)
            RecoveryCodes.activate(user)
            return DEMO_TOTP_SECRET
        return get_mfa_adapter().decrypt(totp.data["secret"])

    def _client_workspace(self, name: str, owner: User) -> Workspace:
        workspace = (
            Workspace.objects.filter(
                name=name,
                kind=Workspace.Kind.CLIENT,
                memberships__user=owner,
                memberships__role=Membership.Role.OWNER,
            )
            .order_by("id")
            .first()
        )
        return workspace or services.workspace_create(name=name, owner=owner)

    def _personal_workspace(self, user: User) -> Workspace:
        workspace = (
            Workspace.objects.filter(
                kind=Workspace.Kind.PERSONAL,
                memberships__user=user,
                memberships__role=Membership.Role.OWNER,
            )
            .order_by("id")
            .first()
        )
        if workspace is None:  # made before the signal existed, or removed by hand
            workspace = services.workspace_create(
                name=user.get_short_name(), owner=user, kind=Workspace.Kind.PERSONAL
            )
        return workspace

    # --- Posting history ----------------------------------------------------------------------

    def _posting_history(self, agency: User) -> None:
        """Weeks of posts and two repost rules (one paused) in each client workspace, made
        through the sandbox's API, then read into the mirror (posting/management/demo/)."""
        if self.sandbox is None:
            self.stdout.write(
                f"No posting history seeded: no sandbox answers at {settings.TAISLY_BASE_URL}."
            )
            return
        for seed in CLIENT_WORKSPACES:
            workspace = self._client_workspace(seed.name, agency)
            try:
                line = demo_history.seed_workspace(
                    workspace=workspace,
                    actor=agency,
                    history=demo_history.HISTORIES[seed.name],
                    control=self.sandbox,
                )
            except (TaislyActionError, RepostActionError) as exc:
                line = f"{seed.name}: no posting history seeded ({exc.message})"
            self.stdout.write(line)

    # --- Keys ---------------------------------------------------------------------------------

    @sensitive_variables()
    def _key(self, workspace: Workspace, seed: KeySeed, *, actor: User) -> TaislyConnection:
        """The workspace's stored key if it still works with the sandbox, else a new account's."""
        try:
            connection = TaislyConnection.objects.filter(workspace=workspace).first()
        except DecryptionError:
            connection = None  # stored under an encryption key this server no longer has
            self.stderr.write(
                f"{workspace.name}: the stored key cannot be decrypted; replacing it."
            )
        if connection is not None and connection.is_active and connection.api_key:
            works = self._still_works(connection)
            if works is None:
                self.unchecked = True
            if works is not False:
                return connection
            self.stdout.write(
                f"{workspace.name}: the sandbox no longer knows its key; replacing it."
            )
        account = self._sandbox_account(seed)
        with transaction.atomic():
            return keys.connection_store(
                workspace=workspace,
                api_key=account["api_key"],
                plan=account["plan"],
                actor=actor,
                verified=False,
            )

    @sensitive_variables()
    def _still_works(self, connection: TaislyConnection) -> bool | None:
        """True or False when the sandbox says; None when it cannot be asked (not running, or
        the key's hour is spent). Through the governor like every Taisly call: it is counted."""
        try:
            with gateway.governed_client(
                connection.api_key, connection=connection, timeout=(2, 10)
            ) as client:
                client.key_info()
        except TaislyAuthError:
            return False
        except TaislyError:
            return None
        return True

    @sensitive_variables()
    def _sandbox_account(self, seed: KeySeed) -> dict:
        out = StringIO()
        call_command(
            "sandbox_account",
            plan=seed.plan,
            platforms=",".join(seed.networks),
            disconnected=",".join(seed.disconnected),
            stdout=out,
        )
        try:
            account = json.loads(out.getvalue())
            account["api_key"]  # noqa: B018 (fail here, not later, if the shape changed)
        except (ValueError, KeyError, TypeError):
            raise CommandError("sandbox_account did not print the expected JSON.") from None
        self.created_accounts += 1
        return account
