"""Error intents: what a failure means for a request, in the type (issuer-lib's style).

Invariants: every failure the reconcilers see becomes exactly one of :class:`PendingError`,
:class:`PermanentError` or :class:`IssuerError`; :func:`intent_for` is the only place that
maps ZeroSSL's error kinds and codes to them, :func:`solver_intent` the only place that maps
solver faults (never worse than pending: fixing the spec or Secret is enough). Only
:class:`PermanentError` may end a request (``Failed``); transient faults and slow validations
are always ``PendingError`` and retried.
Messages come from :class:`~controller.zerossl.errors.ZeroSSLError`, which redacts them.
"""

from __future__ import annotations

import re
from typing import Protocol, TypeAlias

from controller.issuer.conditions import IssuerReason
from controller.issuer.decision import Event, warning
from controller.zerossl.errors import ErrorKind, ZeroSSLError

MISCONFIGURED_WAIT = 300.0  # a solver that needs a fix to its spec or Secret is retried this often


class PendingError(Exception):
    """Not done yet, or a transient fault: look again after ``requeue_after`` seconds.

    Raised by any step that waits on ZeroSSL, DNS or a solver. ``requeue_after`` None means
    "use the caller's backoff". Never terminal, never counted against a retry deadline.
    """

    def __init__(self, message: str, requeue_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.requeue_after = requeue_after


class PermanentError(Exception):
    """The request can never succeed as made: a bad CSR, names ZeroSSL will not certify.

    Raised only for the request's own content or ZeroSSL's final refusal of it; the request
    becomes ``Ready=False/Failed`` with a failureTime and the order is cancelled at ZeroSSL.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class IssuerError(Exception):
    """The issuer's account or configuration is at fault (bad key, quota, unpaid invoices).

    Raised by steps that call ZeroSSL with the issuer's key. The issuer is flagged for a
    re-check (it turns not-Ready) and the request stays Pending until the issuer is fixed.
    """

    def __init__(self, reason: IssuerReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


Intent: TypeAlias = PendingError | PermanentError | IssuerError

_ISSUER_REASON_BY_TYPE = {
    "invalid_access_key": IssuerReason.INVALID_API_KEY,
    "invalid_api_function": IssuerReason.INVALID_API_KEY,
    "inactive_user": IssuerReason.INACTIVE_ACCOUNT,
}
_ISSUER_REASON_BY_CODE = {
    101: IssuerReason.INVALID_API_KEY,
    103: IssuerReason.INVALID_API_KEY,
    102: IssuerReason.INACTIVE_ACCOUNT,
}


def describe(error: ZeroSSLError) -> str:
    """A one-line, redacted account of a ZeroSSL error for conditions and Events."""
    what = f"error {error.code} {error.type}".strip() if error.code is not None else error.type
    suffix = f" ({what})" if what and what != "error" else ""
    return f"ZeroSSL {error.endpoint}: {error.explanation}{suffix}"


def issuer_reason(error: ZeroSSLError) -> IssuerReason:
    """The issuer Ready reason for an account-level error."""
    if error.kind is ErrorKind.QUOTA:
        return IssuerReason.QUOTA_EXHAUSTED
    return (
        _ISSUER_REASON_BY_TYPE.get(error.type)
        or _ISSUER_REASON_BY_CODE.get(error.code or -1)
        or IssuerReason.ACCOUNT_RESTRICTED
    )


def camel_reason(slug: str, default: str) -> str:
    """``certificate_unsupported_top_level_domain`` -> ``CertificateUnsupportedTopLevelDomain``.

    The result always matches metav1.Condition's reason pattern; ``default`` if nothing is left.
    """
    words = re.findall(r"[A-Za-z0-9]+", slug)
    reason = "".join(w[:1].upper() + w[1:] for w in words)
    return reason if reason[:1].isalpha() else default


def intent_for(error: ZeroSSLError | Intent) -> Intent:
    """The intent of a failure; intents pass through unchanged."""
    if not isinstance(error, ZeroSSLError):
        return error
    message = describe(error)
    match error.kind:
        case ErrorKind.PERMANENT:
            return PermanentError(camel_reason(error.type, "ZeroSSLRejected"), message)
        case ErrorKind.ISSUER | ErrorKind.QUOTA:
            return IssuerError(issuer_reason(error), message)
        case ErrorKind.THROTTLED:
            return PendingError(message, requeue_after=error.retry_after)
        case ErrorKind.NOT_YET | ErrorKind.RETRYABLE:
            return PendingError(message)


class SolverFault(Protocol):
    """A solver's failure (a DNS provider's or the HTTP routing's), its message redacted."""

    @property
    def kind(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def retryable(self) -> bool: ...

    @property
    def retry_after(self) -> float | None: ...


def solver_intent(domain: str, fault: SolverFault) -> tuple[PendingError, Event | None]:
    """The intent of a solver's failure on ``domain``, and the Warning Event to record now.

    A transient fault backs off (a rate limit after the time the provider asked for), without
    an Event; a solver that cannot work as configured waits :data:`MISCONFIGURED_WAIT` with a
    Warning Event naming the fault.
    """
    if fault.retryable:
        return PendingError(fault.message, requeue_after=fault.retry_after), None
    reason = camel_reason(f"solver_{fault.kind}", "SolverFailed")
    note = f"{domain}: {fault.message}; fix the solver spec or its Secret"
    return PendingError(note, requeue_after=MISCONFIGURED_WAIT), warning(reason, note)
