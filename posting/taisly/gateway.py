"""The one door from posting's services to a workspace's Taisly account.

    service ──taisly_for(workspace)──> guard (key stored?) ──> GovernedClient ──> Taisly
                     │                         (governor: blocked? budget? each request)
                     └──── TaislyActionError(sentence, cause) <── 429 blocks, 401 marks invalid

Every posting service that calls Taisly goes through ``taisly_for``: it decrypts the stored key
only here and hands out a client whose every request asks the quota governor first (refused
while the key is blocked by a 429 or its hour is spent: ``QuotaRefused``, with a sentence saying
when it works again) and is counted in the ledger. A 429 blocks every connection holding the
key; a 401 marks the connection invalid. Every Taisly failure becomes a ``TaislyActionError``
with a translated sentence; the original exception stays on ``cause`` for callers that must tell
an ambiguous failure (the request may have reached Taisly) from a certain one. Work done inside
``governor.background()`` counts as background (the sync), anything else as interactive.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_variables

from accounts.crypto import DecryptionError
from accounts.models import TaislyConnection, Workspace
from posting.taisly import (
    TaislyAuthError,
    TaislyClient,
    TaislyError,
    TaislyForbidden,
    TaislyProtocolError,
    TaislyRateLimited,
    TaislyRejected,
    TaislyServerError,
    TaislyUnavailable,
)
from posting.taisly import governor as quota
from posting.taisly.governor import QuotaRefused

logger = logging.getLogger(__name__)


class TaislyActionError(Exception):
    """A Taisly action could not be done; ``message`` says why in the user's language."""

    def __init__(self, message: str, *, cause: TaislyError | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause

    def sentence(self) -> str:
        """``message`` again in the active language (for ``sending.reasons.store``): a Taisly
        failure's sentence is rebuilt from its cause; a refusal before any request as it was."""
        return taisly_sentence(self.cause) if self.cause is not None else self.message

    @property
    def ambiguous(self) -> bool:
        """True when the request may have reached Taisly and been carried out."""
        return bool(self.cause is not None and self.cause.ambiguous)


def _minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


def _rate_limited_sentence(seconds: float) -> str:
    minutes = _minutes(seconds)
    return ngettext(
        "Taisly's hourly request limit for this key is used up. "
        "Try again in about %(minutes)d minute.",
        "Taisly's hourly request limit for this key is used up. "
        "Try again in about %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def taisly_sentence(exc: TaislyError) -> str:
    """What a Taisly failure means, in one translated sentence (without the outcome)."""
    if isinstance(exc, TaislyForbidden):
        return _(
            "Taisly refused this key: its plan does not allow API access (a FREE plan cannot use "
            "the API). Upgrade the Taisly account to Starter or higher, then try again."
        )
    if isinstance(exc, TaislyAuthError):
        return _(
            "Taisly did not accept this key. Check that you copied all of it and that it has not "
            "been regenerated or revoked since."
        )
    if isinstance(exc, QuotaRefused):
        return exc.sentence
    if isinstance(exc, TaislyRateLimited):
        return _rate_limited_sentence(exc.retry_after)
    if isinstance(exc, TaislyUnavailable):
        if exc.timeout:
            return _("Taisly did not answer in time.")
        return _("Taisly could not be reached.")
    if isinstance(exc, TaislyServerError):
        return _("Taisly had a problem of its own (HTTP %(status)s).") % {"status": exc.status}
    if isinstance(exc, TaislyProtocolError):
        return _("Taisly's answer could not be understood.")
    if isinstance(exc, TaislyRejected):
        return _("Taisly refused the request (HTTP %(status)s).") % {"status": exc.status or "200"}
    return _("The request to Taisly could not be made.")


def stored_connection(workspace: Workspace) -> TaislyConnection:
    """The workspace's connection with a stored key that decrypts, or TaislyActionError (its
    status is not checked: the key actions use this to act on an invalid key too)."""
    try:
        connection = TaislyConnection.objects.get(workspace=workspace)
    except TaislyConnection.DoesNotExist:
        raise TaislyActionError(_("This workspace has no Taisly key connected.")) from None
    except DecryptionError:
        logger.error(
            "The stored Taisly key of workspace %s cannot be decrypted with the configured "
            "TAISLY_DASH_ENCRYPTION_KEYS",
            workspace.code,
        )
        raise TaislyActionError(
            _(
                "The stored key cannot be read with this server's encryption keys. Disconnect it "
                "and connect the key again."
            )
        ) from None
    if not connection.api_key:
        raise TaislyActionError(
            _("This workspace has no Taisly key connected. Connect a key first.")
        )
    return connection


@sensitive_variables("api_key")
def governed_client(
    api_key: str,
    *,
    connection: TaislyConnection | None,
    plan: str | None = None,
    exempt: bool = False,
    **kwargs,
) -> quota.GovernedClient:
    """The one place a Taisly client is made: every request it sends asks the governor first and
    is a row in the ledger. ``connection`` is what the calls count against (None only while a
    new key is being connected: ``quota.attach`` assigns the rows once it is stored); ``plan``
    the limit while there is no connection yet; ``exempt`` is for revoking a key only."""
    return quota.GovernedClient(api_key, connection=connection, plan=plan, exempt=exempt, **kwargs)


def _usable_connection(workspace: Workspace) -> TaislyConnection:
    connection = stored_connection(workspace)
    if connection.status == TaislyConnection.Status.INVALID:
        raise TaislyActionError(
            _(
                "Taisly no longer accepts this workspace's key. An owner must connect a "
                "working key on the Taisly key page."
            )
        )
    if connection.status != TaislyConnection.Status.ACTIVE:
        raise TaislyActionError(_("This workspace has no Taisly key connected."))
    return connection


@contextmanager
def taisly_for(workspace: Workspace) -> Iterator[TaislyClient]:
    """A governed Taisly client for ``workspace``'s stored key, closed afterwards.

    Raises ``TaislyActionError`` before any request when the workspace has no usable key, before
    each request the governor refuses (blocked, or the hour spent), and in place of any
    ``TaislyError`` raised inside the block.
    """
    connection = _usable_connection(workspace)
    quota.ensure_fingerprint(connection, connection.api_key)
    client = governed_client(connection.api_key, connection=connection)
    try:
        with client:
            yield client
    except TaislyRateLimited as exc:
        # A refusal of the governor's own (QuotaRefused) or Taisly's 429, which the client
        # already turned into a block of every connection holding the key.
        raise TaislyActionError(taisly_sentence(exc), cause=exc) from None
    except TaislyAuthError as exc:
        if not isinstance(exc, TaislyForbidden):
            # 401: the key was revoked or regenerated elsewhere. Stop using it until an owner
            # acts; the ciphertext stays until they replace or disconnect it.
            TaislyConnection.objects.filter(
                pk=connection.pk, status=TaislyConnection.Status.ACTIVE
            ).update(status=TaislyConnection.Status.INVALID, status_changed_at=timezone.now())
        raise TaislyActionError(taisly_sentence(exc), cause=exc) from None
    except TaislyError as exc:
        logger.info("Taisly call for workspace %s failed: %s", workspace.code, type(exc).__name__)
        raise TaislyActionError(taisly_sentence(exc), cause=exc) from None
