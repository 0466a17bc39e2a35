"""Typed errors for every way a Taisly call can fail.

Permanent errors (``transient = False``) will fail the same way if retried unchanged: a bad or
revoked key, a plan that does not allow the API, a request Taisly refused, an answer the client
cannot read. Transient ones may work later: a 5xx, no answer at all, the hourly limit.

No error carries the request, its headers or the response object, and every message is scrubbed
of anything shaped like a Taisly key, so ``str()``/``repr()``/tracebacks cannot leak one.
"""

from __future__ import annotations

from accounts.taisly_key import scrub  # one definition of what a key looks like


class TaislyError(Exception):
    """Base for every Taisly failure.

    ``status`` is the HTTP status (None when no answer came), ``code`` Taisly's machine code (its
    ``message`` field, e.g. ``INVALID_API_KEY``), ``detail`` its sentence (``error`` or
    ``detailMessage``), ``endpoint`` the operation (``"POST /post"``).
    """

    transient = False
    #: True when Taisly may have carried the request out although the call failed; a post that
    #: failed so must be reconciled against history before it is retried.
    ambiguous = False
    #: What the ledger records when Taisly gave no machine code of its own.
    fallback_code = "TAISLY_ERROR"

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        endpoint: str = "",
    ) -> None:
        self.status = status
        self.code = scrub(code)
        self.detail = scrub(detail)
        self.endpoint = endpoint
        super().__init__(self._message())

    def _message(self) -> str:
        head = " ".join(str(p) for p in (self.endpoint, self.status, self.code) if p)
        return f"{head}: {self.detail}" if self.detail else head or type(self).__name__

    @property
    def error_code(self) -> str:
        """Taisly's code, or a stand-in naming the kind of failure (for the ledger)."""
        return self.code or self.fallback_code

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(endpoint={self.endpoint!r}, status={self.status!r}, "
            f"code={self.code!r}, detail={self.detail!r})"
        )

    def __reduce__(self):
        # Keyword-only arguments need help to survive pickling (django-q2 pickles task results).
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[TaislyError], state: dict) -> TaislyError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error._message())
    return error


class TaislyAuthError(TaislyError):
    """401 (bad, regenerated or revoked key) or 403 (see :class:`TaislyForbidden`)."""

    fallback_code = "UNAUTHORIZED"
    forbidden = False


class TaislyForbidden(TaislyAuthError):
    """403: the key is known but may not do this, e.g. a FREE plan (``PLAN_NOT_ALLOWED``)."""

    fallback_code = "FORBIDDEN"
    forbidden = True


class TaislyRateLimited(TaislyError):
    """429: the key's hourly limit is used up; ``retry_after`` is seconds to wait."""

    transient = True
    fallback_code = "RATE_LIMITED"
    DEFAULT_RETRY_AFTER = 60

    def __init__(self, detail: str | None = None, *, retry_after: int, **kwargs) -> None:
        self.retry_after = retry_after
        super().__init__(detail, **kwargs)

    def _message(self) -> str:
        return f"{super()._message()} (retry after {self.retry_after} s)"


class TaislyRejected(TaislyError):
    """Taisly refused the request: 400, 404, another 4xx, or ``success: false`` in a 2xx."""

    fallback_code = "REJECTED"


class TaislyServerError(TaislyError):
    """5xx from Taisly. Ambiguous: a server (or a gateway before it) may fail after acting."""

    transient = True
    ambiguous = True
    fallback_code = "SERVER_ERROR"


class TaislyUnavailable(TaislyError):
    """No answer: the connection failed or timed out.

    ``ambiguous`` is True when the request may have reached Taisly before the connection broke (a
    read timeout, a connection dropped mid-answer): the operation may have been carried out, so a
    post must be reconciled against history before it is retried. It is False only when the
    request certainly never left (connect timeout, connection refused, DNS).
    """

    transient = True
    fallback_code = "CONNECTION_ERROR"

    def __init__(self, detail: str | None = None, *, ambiguous: bool, timeout: bool, **kwargs):
        self.ambiguous = ambiguous
        self.timeout = timeout
        super().__init__(detail, **kwargs)

    @property
    def error_code(self) -> str:
        return "TIMEOUT" if self.timeout else self.fallback_code


class TaislyProtocolError(TaislyError):
    """The answer could not be understood: not JSON, or missing what the operation needs.

    Ambiguous when the status was 2xx: Taisly said yes, the client just cannot read the details.
    """

    fallback_code = "BAD_RESPONSE"

    @property
    def ambiguous(self) -> bool:  # type: ignore[override]
        return self.status is not None and 200 <= self.status < 300
