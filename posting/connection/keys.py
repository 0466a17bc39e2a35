"""A workspace's Taisly key: connect, regenerate, revoke, disconnect.

Every action is a keyword-only service that either returns a ``KeyOutcome`` (what changed and a
translated sentence for the user) or raises ``KeyActionError`` (a translated sentence saying what
went wrong; nothing was stored). Views only parse and render.

The plaintext key lives in local variables here and in the Taisly client, nowhere else: it is
stored only through the encrypted field, audited only as its hint, never logged. Every function
that holds it is under ``sensitive_variables`` so an error report cannot show it.

No database transaction is held open while Taisly is called: on SQLite a write transaction locks
the whole file, and a slow Taisly would stall every other request.

Authority (owners only) is decided here, not in the views, with the actor's membership row
locked (``accounts.access.lock_actor_role``). Since no lock is held across a Taisly call, an
action that calls Taisly checks twice: in a short locked transaction right before the call (a
demoted owner never reaches Taisly), and again in the transaction that stores the result (an
owner demoted while the call was under way stores nothing). The second refusal comes after
Taisly acted: then only what Taisly's answer makes true is recorded (the old key is dead, so the
connection is marked invalid), never the actor's result, and the new key is not shown to them.

    view (early check, for the page) ─▶ lock+check ─▶ Taisly ─▶ lock+check ─▶ store + audit
                                          │ refused: 403             │ refused: 403, key marked
                                          ▼ nothing happened         ▼ invalid if it is dead
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import models, transaction
from django.db.models.functions import Cast
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_variables

from accounts.access import RoleRequired, lock_actor_role
from accounts.audit import audit_record
from accounts.crypto import key_fingerprint
from accounts.models import AuditEvent, Membership, TaislyConnection, User, Workspace
from posting.mirror.sync import platforms_store
from posting.taisly import (
    TaislyAuthError,
    TaislyError,
    TaislyForbidden,
    TaislyRateLimited,
    gateway,
    key_hint,
)
from posting.taisly import governor as quota
from posting.taisly.gateway import TaislyActionError

logger = logging.getLogger(__name__)

Status = TaislyConnection.Status
Plan = TaislyConnection.Plan


class KeyActionError(Exception):
    """A key action did not happen. ``message`` is a translated sentence for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KeyNotStored(KeyActionError):
    """Taisly issued a new key but storing it failed; the old key no longer works.

    The view shows ``new_key`` once (on a never-cached page) so it is not lost. It is kept out of
    ``args``, ``str()`` and ``repr()``.
    """

    def __init__(self, message: str, *, new_key: str, plan: str) -> None:
        super().__init__(message)
        self.new_key = new_key
        self.key_hint = key_hint(new_key)
        self.plan = plan
        self.plan_label = _plan_label(plan)

    def __repr__(self) -> str:
        return f"KeyNotStored(key_hint={self.key_hint!r})"


@dataclass(frozen=True)
class KeyOutcome:
    connection: TaislyConnection
    #: A translated sentence saying what happened.
    message: str
    #: How many social accounts Taisly listed for the key (connect only).
    platform_count: int | None = field(default=None)


# --- Reading ---------------------------------------------------------------------------------


def connection_for_page(workspace: Workspace) -> TaislyConnection | None:
    """The workspace's connection for display: the key itself is deferred, never decrypted."""
    return (
        TaislyConnection.objects.defer("api_key")
        .select_related("connected_by")
        .filter(workspace=workspace)
        .first()
    )


def _with_token():
    # The raw column (Fernet ciphertext) beside the model: Cast to a plain TextField skips the
    # encrypted field's decryption. Used for conditional updates ("only if the key is unchanged").
    return TaislyConnection.objects.annotate(token=Cast("api_key", models.TextField()))


# --- Messages --------------------------------------------------------------------------------


def _known_plan(value: str | None) -> str | None:
    value = (value or "").strip().upper()
    return value if value in Plan.values else None


def _plan_label(plan: str) -> str:
    return str(Plan(plan).label) if plan in Plan.values else plan


# --- Guards ----------------------------------------------------------------------------------


def _stored_connection(workspace: Workspace) -> TaislyConnection:
    """The workspace's connection with a usable stored key, or KeyActionError."""
    try:
        return gateway.stored_connection(workspace)
    except TaislyActionError as exc:
        raise KeyActionError(exc.message) from None


def _mark_if_unchanged(connection: TaislyConnection, token: str, **fields) -> bool:
    """Update the connection only while it still holds ``token`` (another owner may have
    stored a new key meanwhile). Returns whether it did."""
    fields.setdefault("status_changed_at", timezone.now())
    return bool(_with_token().filter(pk=connection.pk, token=token).update(**fields))


def _raw_token(connection: TaislyConnection) -> str:
    return _with_token().values_list("token", flat=True).get(pk=connection.pk)


def _check_owner(workspace: Workspace, actor: User) -> None:
    """The check right before a Taisly call: a transaction of its own, committed (and its lock
    released) before the call, so a slow Taisly holds no row lock."""
    with transaction.atomic():
        lock_actor_role(workspace=workspace, actor=actor)


# --- Services --------------------------------------------------------------------------------


@sensitive_variables()
def connection_connect(
    *,
    workspace: Workspace,
    api_key: str,
    plan: str | None,
    actor: User,
    request: HttpRequest | None = None,
) -> KeyOutcome:
    """Verify ``api_key`` against Taisly (key info, then platforms) and only then store it.

    The plan comes from Taisly's key info when it names one we know, else ``plan`` (the owner's
    choice). Replaces any key the workspace had. Raises ``KeyActionError``; nothing is stored then.
    """
    api_key = (api_key or "").strip()
    _check_owner(workspace, actor)
    existing = TaislyConnection.objects.defer("api_key").filter(workspace=workspace).first()
    try:
        # Governed: refused while this key is blocked (in any workspace holding it) or its hour
        # is spent. Counted against the workspace's connection; a first connect's requests get
        # their connection once it exists (quota.attach below).
        client = gateway.governed_client(api_key, connection=existing, plan=_known_plan(plan))
    except ValueError:
        raise KeyActionError(_("This is not a Taisly key.")) from None
    try:
        with client:
            info = client.key_info()
            platforms = client.platforms()
    except TaislyError as exc:
        logger.info(
            "Connecting a Taisly key to workspace %s failed: %s",
            workspace.code,
            type(exc).__name__,
        )
        raise KeyActionError(
            _("%(reason)s Nothing was saved.") % {"reason": gateway.taisly_sentence(exc)}
        ) from None

    if (info.plan or "").strip().upper() == "FREE":
        raise KeyActionError(
            _("%(reason)s Nothing was saved.")
            % {"reason": gateway.taisly_sentence(TaislyForbidden(status=403))}
        )
    chosen = _known_plan(info.plan) or _known_plan(plan)
    if chosen is None:
        raise KeyActionError(
            _(
                "Taisly did not say which plan this key is on. Choose the plan, then connect "
                "again. Nothing was saved."
            )
        )

    connection = connection_store(
        workspace=workspace,
        api_key=api_key,
        plan=chosen,
        actor=actor,
        verified=True,
        request=request,
    )
    # The platforms were fetched to verify the key: store them, so pages need no second call.
    platforms_store(workspace=workspace, platforms=platforms)
    quota.attach(client, connection)
    count = len(platforms)
    message = ngettext(
        "Taisly key %(hint)s connected (plan %(plan)s, %(count)d social account).",
        "Taisly key %(hint)s connected (plan %(plan)s, %(count)d social accounts).",
        count,
    ) % {"hint": connection.key_hint, "plan": _plan_label(chosen), "count": count}
    shared = _shared_key_sentence(connection, actor)
    if shared:
        message = f"{message} {shared}"
    return KeyOutcome(connection=connection, message=message, platform_count=count)


def _shared_key_sentence(connection: TaislyConnection, actor: User) -> str:
    """Says that another workspace already holds this key (naming it only to its members):
    Taisly counts per account, so the two share one hourly limit."""
    others = list(quota.sharing_workspaces(connection).order_by("name")[:20])
    if not others:
        return ""
    member_of = set(
        Membership.objects.filter(user=actor, workspace__in=others).values_list(
            "workspace_id", flat=True
        )
    )
    named = [w.name for w in others if w.pk in member_of]
    if len(named) == len(others):
        return ngettext(
            "This key is already used by the workspace %(names)s; the workspaces share its "
            "hourly request limit.",
            "This key is already used by the workspaces %(names)s; the workspaces share its "
            "hourly request limit.",
            len(named),
        ) % {"names": ", ".join(f"“{name}”" for name in named)}
    return _(
        "This key is already used by another workspace; the workspaces share its hourly "
        "request limit."
    )


@sensitive_variables()
def connection_store(
    *,
    workspace: Workspace,
    api_key: str,
    plan: str,
    actor: User | None,
    verified: bool,
    request: HttpRequest | None = None,
) -> TaislyConnection:
    """Store ``api_key`` (encrypted) as the workspace's active key and audit it.

    Does not ask Taisly: views go through ``connection_connect``, which verifies first. Called
    directly only for keys known good, such as the demo seed's freshly made sandbox keys.
    ``actor`` must be an owner (checked under lock here); ``None`` only for system jobs.
    """
    hint = key_hint(api_key)
    now = timezone.now()
    with transaction.atomic():
        if actor is not None:
            lock_actor_role(workspace=workspace, actor=actor)
        # The row first, then its lock: two first connects at once (a double click) would
        # otherwise both find no row and the second insert would fail on the one-per-workspace
        # constraint. get_or_create lets the second wait for the first's row and use it.
        TaislyConnection.objects.defer("api_key").get_or_create(
            workspace=workspace, defaults={"status": Status.DISCONNECTED}
        )
        connection = (
            TaislyConnection.objects.select_for_update().defer("api_key").get(workspace=workspace)
        )
        replaced = connection.key_fingerprint
        connection.api_key = api_key
        connection.key_hint = hint
        connection.key_fingerprint = key_fingerprint(api_key)
        connection.plan = plan
        connection.status = Status.ACTIVE
        connection.blocked_until = None
        connection.blocked_since = None
        connection.connected_by = actor
        connection.connected_at = now
        connection.last_verified_at = now if verified else None
        connection.status_changed_at = now
        connection.save()
        # A key replaced by another in the same connection (a key regenerated on Taisly's own
        # site and pasted here, most often): Taisly counts the account's hour across both, so
        # the new key takes over the old one's requests. Not while another workspace still holds
        # the old key: its budget needs them, and the new key may be another account's.
        if (
            replaced
            and replaced != connection.key_fingerprint
            and not TaislyConnection.objects.filter(key_fingerprint=replaced)
            .exclude(pk=connection.pk)
            .exists()
        ):
            quota.carry_over(
                old_fingerprint=replaced, new_fingerprint=connection.key_fingerprint, now=now
            )
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditEvent.Action.KEY_CONNECTED,
            target=hint,
            details={"hint": hint, "plan": plan},
            request=request,
        )
    return connection


@sensitive_variables()
def connection_regenerate(
    *, workspace: Workspace, actor: User, request: HttpRequest | None = None
) -> KeyOutcome:
    """Ask Taisly for a new key (the old one stops working at once) and store it.

    The new key is stored only while the stored key is still the one this started from: if
    another owner connected or regenerated a key meanwhile, theirs stays. If the new key cannot
    be stored (that, or a failure), raises ``KeyNotStored`` carrying it so the view can show it
    once; after a failure the connection is marked invalid (its old key is dead).
    """
    _check_owner(workspace, actor)
    connection = _stored_connection(workspace)
    if connection.status != Status.ACTIVE:
        # Taisly would only answer 401: an invalid key cannot ask for its successor.
        raise KeyActionError(
            _("The stored key no longer works, so it cannot be regenerated. Connect a new key.")
        )
    old_token = _raw_token(connection)
    # Governed: refused (QuotaRefused, a TaislyRateLimited) while blocked or the hour is spent.
    client = gateway.governed_client(connection.api_key, connection=connection)
    try:
        with client:
            generated = client.key_generate()
    except TaislyAuthError as exc:
        if exc.forbidden:
            raise KeyActionError(
                _("%(reason)s The key was not regenerated.")
                % {"reason": gateway.taisly_sentence(exc)}
            ) from None
        if not _mark_if_unchanged(connection, old_token, status=Status.INVALID):
            # A new key was stored meanwhile (the other click of a double click regenerated
            # it first, which is why Taisly refused the old one): nothing is wrong with it.
            raise KeyActionError(
                _("The key was changed by someone else meanwhile. Reload the page and check.")
            ) from None
        raise KeyActionError(
            _(
                "Taisly no longer accepts the stored key, so it could not be regenerated; it is "
                "now marked invalid. Generate a new key on Taisly and connect it."
            )
        ) from None
    except TaislyRateLimited as exc:
        raise KeyActionError(
            _("%(reason)s The key was not regenerated.") % {"reason": gateway.taisly_sentence(exc)}
        ) from None
    except TaislyError as exc:
        if exc.ambiguous:
            raise KeyActionError(
                _(
                    "%(reason)s Taisly may or may not have issued a new key. If the stored key "
                    "stops working, generate a new key on Taisly and connect it."
                )
                % {"reason": gateway.taisly_sentence(exc)}
            ) from None
        raise KeyActionError(
            _("%(reason)s The key was not regenerated.") % {"reason": gateway.taisly_sentence(exc)}
        ) from None

    new_key = generated.api_key
    hint = key_hint(new_key)
    plan = _known_plan(generated.plan) or connection.plan
    now = timezone.now()
    try:
        with transaction.atomic():
            lock_actor_role(workspace=workspace, actor=actor)
            stored = _mark_if_unchanged(
                connection,
                old_token,
                api_key=new_key,
                key_hint=hint,
                key_fingerprint=key_fingerprint(new_key),
                plan=plan,
                status=Status.ACTIVE,
                last_verified_at=now,
                status_changed_at=now,
            )
            if not stored:
                raise _KeyChangedMeanwhile
            # The same account with a new key: Taisly's hour goes on, so does the governor's.
            # (Every other holder of the old key is dead with it.)
            quota.carry_over(
                old_fingerprint=connection.key_fingerprint,
                new_fingerprint=key_fingerprint(new_key),
                now=now,
            )
            audit_record(
                workspace=workspace,
                actor=actor,
                action=AuditEvent.Action.KEY_REGENERATED,
                target=hint,
                details={"hint": hint, "plan": plan},
                request=request,
            )
    except RoleRequired:
        # Demoted while Taisly was issuing the key: the old key is dead all the same, but the
        # new one is neither stored nor shown to someone who may no longer hold it.
        _after_store_failed(connection, old_token, actor, hint, plan, request, refused=True)
        raise
    except _KeyChangedMeanwhile:
        # Another owner stored a key meanwhile: it stays. This click's new key (which made the
        # old one stop working) is shown once, as when storing fails.
        _record_unstored(connection, actor, hint, plan, request, reason="changed")
        raise KeyNotStored(
            _(
                "Taisly issued a new key, but someone else changed this workspace's key "
                "meanwhile, so the new key was not saved over theirs. Copy the new key below now "
                "if you need it: it is shown only this once."
            ),
            new_key=new_key,
            plan=plan,
        ) from None
    except Exception as exc:
        # Only the exception's type: a database error message could quote the parameters.
        logger.error(
            "Storing the regenerated Taisly key of workspace %s failed (%s); "
            "the new key is shown to the user once",
            workspace.code,
            type(exc).__name__,
        )
        _after_store_failed(connection, old_token, actor, hint, plan, request)
        raise KeyNotStored(
            _(
                "Taisly issued a new key, but it could not be saved here. The old key no longer "
                "works. Copy the new key below now: it is shown only this once. Then connect it "
                "again."
            ),
            new_key=new_key,
            plan=plan,
        ) from None
    connection.refresh_from_db()
    return KeyOutcome(
        connection=connection,
        message=_("New Taisly key %(hint)s generated and stored. The old key no longer works.")
        % {"hint": hint},
    )


class _KeyChangedMeanwhile(Exception):
    """The stored key is no longer the one a regenerate started from."""


def _record_unstored(connection, actor, hint, plan, request, **extra) -> None:
    audit_record(
        workspace=connection.workspace,
        actor=actor,
        action=AuditEvent.Action.KEY_REGENERATED,
        target=hint,
        details={"hint": hint, "plan": plan, "stored": False, **extra},
        request=request,
    )


def _after_store_failed(connection, old_token, actor, hint, plan, request, refused=False) -> None:
    # Best effort: the database may be what failed.
    try:
        with transaction.atomic():
            _mark_if_unchanged(connection, old_token, status=Status.INVALID)
            extra = {"reason": "refused"} if refused else {}
            _record_unstored(connection, actor, hint, plan, request, **extra)
    except Exception as exc:
        logger.error("Recording the failed key store also failed (%s)", type(exc).__name__)


@sensitive_variables()
def connection_revoke(
    *, workspace: Workspace, actor: User, request: HttpRequest | None = None
) -> KeyOutcome:
    """Revoke the key at Taisly and forget it here (only its hint stays).

    If Taisly answers 401 the key was already dead (revoked or regenerated elsewhere): it is
    marked revoked all the same, and the sentence says so.
    """
    _check_owner(workspace, actor)
    connection = _stored_connection(workspace)
    # No local rate-limit block here: a leaked key that someone is burning must still be
    # revocable. It costs at most one request, which Taisly may answer with 429 again.
    old_token = _raw_token(connection)
    already_dead = False
    client = gateway.governed_client(connection.api_key, connection=connection, exempt=True)
    try:
        with client:
            client.key_revoke()
    except TaislyAuthError as exc:
        if exc.forbidden:
            raise KeyActionError(
                _("%(reason)s The key was not revoked.") % {"reason": gateway.taisly_sentence(exc)}
            ) from None
        already_dead = True
    except TaislyRateLimited as exc:
        raise KeyActionError(
            _("%(reason)s The key was not revoked.") % {"reason": gateway.taisly_sentence(exc)}
        ) from None
    except TaislyError as exc:
        raise KeyActionError(
            _("%(reason)s The key may not have been revoked; try again.")
            % {"reason": gateway.taisly_sentence(exc)}
        ) from None

    with transaction.atomic():
        try:
            lock_actor_role(workspace=workspace, actor=actor)
        except RoleRequired:
            # Demoted while Taisly revoked the key: it is dead (true whoever asked), so it is
            # marked invalid; it is not recorded as revoked by someone no longer allowed to.
            _mark_if_unchanged(connection, old_token, status=Status.INVALID)
            refused = True
        else:
            refused = False
            if not _mark_if_unchanged(
                connection,
                old_token,
                api_key="",
                key_fingerprint="",
                status=Status.REVOKED,
                blocked_until=None,
                blocked_since=None,
            ):
                raise KeyActionError(
                    _("The key was changed by someone else meanwhile. Reload the page and check.")
                )
            audit_record(
                workspace=workspace,
                actor=actor,
                action=AuditEvent.Action.KEY_REVOKED,
                target=connection.key_hint,
                details={
                    "hint": connection.key_hint,
                    "plan": connection.plan,
                    **({"already_invalid": True} if already_dead else {}),
                },
                request=request,
            )
    if refused:
        raise RoleRequired
    connection.refresh_from_db(fields=["status", "status_changed_at", "blocked_until"])
    if already_dead:
        message = _(
            "Taisly no longer accepted key %(hint)s (it was already revoked or regenerated). "
            "It is marked revoked and forgotten here."
        ) % {"hint": connection.key_hint}
    else:
        message = _("Key %(hint)s revoked at Taisly and forgotten here.") % {
            "hint": connection.key_hint
        }
    return KeyOutcome(connection=connection, message=message)


def connection_disconnect(
    *, workspace: Workspace, actor: User, request: HttpRequest | None = None
) -> KeyOutcome:
    """Forget the key here, without calling Taisly (the key keeps working there)."""
    with transaction.atomic():
        lock_actor_role(workspace=workspace, actor=actor)
        connection = (
            TaislyConnection.objects.select_for_update()
            .defer("api_key")
            .filter(workspace=workspace)
            .first()
        )
        if connection is None or connection.status == Status.DISCONNECTED:
            raise KeyActionError(_("This workspace has no Taisly key connected."))
        connection.api_key = ""
        connection.key_fingerprint = ""
        connection.status = Status.DISCONNECTED
        connection.blocked_until = None
        connection.blocked_since = None
        connection.status_changed_at = timezone.now()
        connection.save(
            update_fields=[
                "api_key",
                "key_fingerprint",
                "status",
                "blocked_until",
                "blocked_since",
                "status_changed_at",
            ]
        )
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditEvent.Action.KEY_DISCONNECTED,
            target=connection.key_hint,
            details={"hint": connection.key_hint, "plan": connection.plan},
            request=request,
        )
    return KeyOutcome(
        connection=connection,
        message=_(
            "Key %(hint)s disconnected: it is forgotten here but still works at Taisly until "
            "you revoke or regenerate it there."
        )
        % {"hint": connection.key_hint},
    )
