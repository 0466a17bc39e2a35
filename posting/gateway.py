"""The one door from posting's services to a workspace's Taisly account.

    service ──taisly_for(workspace)──> guard (key stored?) ──> GovernedClient ──> Taisly
                     │                         (posting.quota: blocked? budget? each request)
                     └──── TaislyActionError(sentence, cause) <── 429 blocks, 401 marks invalid

Every posting service that calls Taisly goes through ``taisly_for``: it decrypts the stored key
only here and hands out a client whose every request asks the quota governor first (refused
while the key is blocked by a 429 or its hour is spent: ``QuotaRefused``, with a sentence saying
when it works again) and is counted in the ledger. A 429 blocks every connection holding the
key; a 401 marks the connection invalid. Every Taisly failure becomes a ``TaislyActionError``
with a translated sentence; the original exception stays on ``cause`` for callers that must tell
an ambiguous failure (the request may have reached Taisly) from a certain one. Work done inside
``posting.quota.background()`` counts as background (the sync), anything else as interactive.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import keys
from accounts.models import TaislyConnection, Workspace
from posting import quota
from posting.taisly import (
    TaislyAuthError,
    TaislyClient,
    TaislyError,
    TaislyForbidden,
    TaislyRateLimited,
)

logger = logging.getLogger(__name__)


class TaislyActionError(Exception):
    """A Taisly action could not be done; ``message`` says why in the user's language."""

    def __init__(self, message: str, *, cause: TaislyError | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause

    def sentence(self) -> str:
        """``message`` again in the active language (for ``posting.reasons.store``): a Taisly
        failure's sentence is rebuilt from its cause; a refusal before any request as it was."""
        return taisly_sentence(self.cause) if self.cause is not None else self.message

    @property
    def ambiguous(self) -> bool:
        """True when the request may have reached Taisly and been carried out."""
        return bool(self.cause is not None and self.cause.ambiguous)


def taisly_sentence(exc: TaislyError) -> str:
    """One translated sentence for a Taisly failure."""
    return keys._taisly_sentence(exc)


def _usable_connection(workspace: Workspace) -> TaislyConnection:
    try:
        connection = keys._stored_connection(workspace)
    except keys.KeyActionError as exc:
        raise TaislyActionError(exc.message) from None
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
    client = quota.GovernedClient(connection.api_key, connection=connection)
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
