"""API-server errors, one class per status reason the controller acts on.

Invariant: ``ApiError.from_status`` maps an HTTP status (and the ``metav1.Status`` body when
present) to the most specific subclass; ``retryable`` is true exactly for the errors client-go
retries (429, and 5xx), and ``retry_after`` carries the server's hint in seconds.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status: int = 0

    def __init__(
        self,
        status: int,
        reason: str = "",
        message: str = "",
        *,
        body: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {reason}: {message}" if reason else f"{status}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status == 429 or self.status >= 500

    @classmethod
    def from_status(
        cls, status: int, body: dict[str, Any] | None, retry_after: float | None = None
    ) -> ApiError:
        body = body or {}
        reason = str(body.get("reason", ""))
        message = str(body.get("message", ""))
        details = body.get("details") or {}
        if retry_after is None and isinstance(details, dict) and "retryAfterSeconds" in details:
            retry_after = float(details["retryAfterSeconds"])
        kind = _BY_STATUS.get(status, ApiError)
        if status == 409 and reason == "AlreadyExists":
            kind = AlreadyExists
        if status in (410,) or reason in ("Expired", "Gone"):
            kind = Gone
        return kind(status, reason, message, body=body, retry_after=retry_after)


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    """409: optimistic-concurrency conflict (stale resourceVersion) or apply conflict."""


class AlreadyExists(Conflict):
    pass


class Gone(ApiError):
    """410 Expired/Gone: the resourceVersion or continue token is too old."""


class UnsupportedMediaType(ApiError):
    pass


class Invalid(ApiError):
    """422: the object failed validation; ``body['details']['causes']`` names the fields."""


class TooManyRequests(ApiError):
    pass


class ServerError(ApiError):
    pass


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    415: UnsupportedMediaType,
    422: Invalid,
    429: TooManyRequests,
    500: ServerError,
    502: ServerError,
    503: ServerError,
    504: ServerError,
}
