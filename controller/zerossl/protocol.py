"""The ZeroSSL wire protocol: the endpoint table and how an HTTP answer becomes data or an error.

Invariants:
- ``ROUTES`` is the single list of endpoints; ``Endpoint`` values are the fixed metric/span
  names. An endpoint is ``retryable`` only if repeating it cannot change anything at ZeroSSL:
  the reads, and ``validate_csr`` (a POST, but it only inspects the CSR and stores nothing).
- :func:`decode_response` detects every error shape once: HTTP 429 (THROTTLED), a body with
  ``success:false`` or an ``error`` object (classified by the table in ``errors``, whatever the
  HTTP status, since ZeroSSL answers errors with 200), a non-JSON or truncated body (HTML 429
  and 5xx pages from the front proxy) and any other non-2xx status (RETRYABLE).
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

from controller.zerossl.errors import ErrorKind, ZeroSSLError, classify
from controller.zerossl.fields import as_bool, as_int, as_str


class Endpoint(StrEnum):
    CREATE = "create"
    VERIFY = "verify"
    GET = "get"
    LIST = "list"
    STATUS = "status"
    DOWNLOAD = "download"
    CANCEL = "cancel"
    REVOKE = "revoke"
    RESEND_EMAIL = "resend_email"
    VALIDATE_CSR = "validate_csr"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # "{id}" stands for the certificate id
    retryable: bool


ROUTES: dict[Endpoint, Route] = {
    Endpoint.CREATE: Route("POST", "/certificates", retryable=False),
    Endpoint.VERIFY: Route("POST", "/certificates/{id}/challenges", retryable=False),
    Endpoint.GET: Route("GET", "/certificates/{id}", retryable=True),
    Endpoint.LIST: Route("GET", "/certificates", retryable=True),
    Endpoint.STATUS: Route("GET", "/certificates/{id}/status", retryable=True),
    Endpoint.DOWNLOAD: Route("GET", "/certificates/{id}/download/return", retryable=True),
    Endpoint.CANCEL: Route("POST", "/certificates/{id}/cancel", retryable=False),
    Endpoint.REVOKE: Route("POST", "/certificates/{id}/revoke", retryable=False),
    # The docs name both GET and POST; ZeroSSL's own CLI uses POST.
    Endpoint.RESEND_EMAIL: Route("POST", "/certificates/{id}/challenges/email", retryable=False),
    Endpoint.VALIDATE_CSR: Route("POST", "/validation/csr", retryable=True),
}


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from ``now``: delta-seconds or an HTTP date; None if absent/bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - now).total_seconds())


def is_error_body(payload: dict[str, Any]) -> bool:
    """ZeroSSL's error marker: an ``error`` object, or a ``success`` flag that is false.

    ``/validation/csr`` answers ``{"valid": false, "error": "<text>"}`` as a *successful*
    call, so an ``error`` that is not an object is not an API error.
    """
    if isinstance(payload.get("error"), dict):
        return True
    return "success" in payload and not as_bool(payload["success"])


def decode_response(
    endpoint: Endpoint,
    status: int,
    body: bytes,
    *,
    content_type: str = "",
    retry_after: float | None = None,
    certificate_id: str | None = None,
) -> dict[str, Any]:
    """The JSON object of a successful answer, or raises the classified ZeroSSLError."""

    def fail(kind: ErrorKind, message: str = "", **fields: Any) -> ZeroSSLError:
        return ZeroSSLError(
            kind,
            endpoint=endpoint,
            http_status=status,
            retry_after=retry_after,
            certificate_id=certificate_id,
            message=message,
            **fields,
        )

    payload: Any = None
    problem = ""
    if body.strip():
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            problem = f"non-JSON body ({content_type or 'no content type'}, {len(body)} bytes)"
    else:
        problem = "empty body"
    if isinstance(payload, dict) and is_error_body(payload):
        error = payload.get("error")
        error = error if isinstance(error, dict) else {}
        code = as_int(error.get("code"), -1) if "code" in error else None
        type_ = as_str(error.get("type")) or ""
        raw_details = error.get("details")
        details = raw_details if isinstance(raw_details, dict) else {}
        if isinstance(raw_details, list):
            details = {"details": raw_details}
        kind = ErrorKind.THROTTLED if status == 429 else classify(code, type_)
        info = as_str(error.get("info")) or ""
        raise fail(kind, info, code=code, type_=type_, details=details)
    if status == 429:
        raise fail(ErrorKind.THROTTLED, "too many requests")
    if not 200 <= status < 300:
        raise fail(ErrorKind.RETRYABLE, problem or f"unexpected HTTP status {status}")
    if problem:
        raise fail(ErrorKind.RETRYABLE, problem)
    if not isinstance(payload, dict):
        raise fail(ErrorKind.RETRYABLE, f"expected a JSON object, got {type(payload).__name__}")
    return payload
