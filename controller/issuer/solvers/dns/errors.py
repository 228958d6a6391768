"""DNS provider errors: what went wrong, whether retrying can help, and nothing secret.

Invariants: every failure of a provider, a secret read or a propagation wait is a
:class:`DNSProviderError`; ``retryable`` says whether the same call may succeed later without a
change to the issuer's configuration; ``kind`` is a short, bounded name for metrics and
condition reasons; messages pass through ``redact_text`` so registered secrets never show.
"""

from __future__ import annotations

from typing import ClassVar

from controller.observability.redact import redact_text


class DNSProviderError(Exception):
    """A DNS validation step failed; ``retryable`` False means fix the issuer or the DNS side."""

    kind: ClassVar[str] = "error"
    default_retryable: ClassVar[bool] = False
    retry_after: float | None = None  # seconds the provider asked us to wait (None: back off)

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        self.message = redact_text(message)
        super().__init__(self.message)
        self.retryable = self.default_retryable if retryable is None else retryable


class InvalidSolverSpec(DNSProviderError):
    """The ``dns`` solver spec (or a record ZeroSSL sent) cannot be used as written."""

    kind = "invalid_spec"


class SecretUnavailable(DNSProviderError):
    """A referenced Secret or key is missing or unreadable; retryable when it may appear later."""

    kind = "secret_unavailable"


class AuthenticationFailed(DNSProviderError):
    """The provider rejected the credentials (bad TSIG key, token or access key)."""

    kind = "auth_failed"


class UpdateRefused(DNSProviderError):
    """The provider understood the request and refused it (policy, permissions, bad record)."""

    kind = "refused"


class ZoneNotFound(DNSProviderError):
    """No zone the credentials can change contains the record's name."""

    kind = "zone_not_found"


class RateLimited(DNSProviderError):
    """The provider throttled us; try again after ``retry_after`` seconds (None: back off)."""

    kind = "rate_limited"
    default_retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransportError(DNSProviderError):
    """The provider could not be reached or answered with a server-side failure."""

    kind = "transport"
    default_retryable = True


class PropagationTimeout(DNSProviderError):
    """The record was not visible from every resolver in time; ``seen`` maps resolver to what
    it answered instead."""

    kind = "timeout"
    default_retryable = True

    def __init__(self, message: str, *, seen: dict[str, str]) -> None:
        super().__init__(message)
        self.seen = seen
