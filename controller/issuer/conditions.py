"""Conditions: reasons, messages and the status patches that carry them.

Invariants:
- Setting a condition keeps its ``lastTransitionTime`` unless its status changes.
- Our own kinds use metav1.Condition (with ``observedGeneration``); cert-manager's
  CertificateRequest conditions have no ``observedGeneration`` field, so none is written there.
- A CertificateRequest status patch holds only the fields this controller owns (the Ready
  condition, ``failureTime``, ``certificate``): apply it with server-side apply on the status
  subresource, where ``conditions`` is a list-map keyed by type and other conditions survive.
  ``failureTime`` is written once, on Failed or Denied, and never moved.
- Every reason string, and every message of a CertificateRequest, lives in this file.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from controller.clock import rfc3339

READY = "Ready"
APPROVED = "Approved"
DENIED = "Denied"
INVALID_REQUEST = "InvalidRequest"

Conditions = Sequence[Mapping[str, Any]]


class Status(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class RequestReason(StrEnum):
    """cert-manager's Ready reasons for a CertificateRequest, plus issuer-lib's Initializing
    (never written by this controller; an older version's is read as not terminal)."""

    INITIALIZING = "Initializing"
    PENDING = "Pending"
    FAILED = "Failed"
    ISSUED = "Issued"
    DENIED = "Denied"


class IssuerReason(StrEnum):
    CHECKED = "Checked"
    INVALID_SPEC = "InvalidSpec"
    SECRET_NOT_FOUND = "SecretNotFound"  # noqa: S105 (a reason, not a secret)
    SECRET_KEY_MISSING = "SecretKeyMissing"  # noqa: S105
    SOLVER_SECRET_NOT_FOUND = "SolverSecretNotFound"  # noqa: S105
    SOLVER_SECRET_KEY_MISSING = "SolverSecretKeyMissing"  # noqa: S105
    INVALID_API_KEY = "InvalidAPIKey"
    INACTIVE_ACCOUNT = "InactiveAccount"
    ACCOUNT_RESTRICTED = "AccountRestricted"
    QUOTA_EXHAUSTED = "QuotaExhausted"
    ZEROSSL_UNAVAILABLE = "ZeroSSLUnavailable"
    CHECK_FAILED = "CheckFailed"


class OrderReason(StrEnum):
    CREATING = "Creating"
    WAITING_FOR_ISSUER = "WaitingForIssuer"
    PRESENTING = "Presenting"
    VALIDATING = "Validating"
    WAITING_FOR_ISSUANCE = "WaitingForIssuance"
    WAITING_FOR_SAME_CSR = "WaitingForSameCSR"  # another order of the CSR validates over HTTP
    ISSUED = "Issued"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


TERMINAL_ORDER_REASONS = frozenset({OrderReason.ISSUED, OrderReason.FAILED, OrderReason.CANCELLED})


def find(conditions: Conditions | None, type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions or () if c.get("type") == type_), None)


def is_true(conditions: Conditions | None, type_: str) -> bool:
    found = find(conditions, type_)
    return found is not None and found.get("status") == Status.TRUE


def condition(
    type_: str,
    status: Status,
    reason: str,
    message: str,
    now: datetime,
    *,
    previous: Mapping[str, Any] | None,
    observed_generation: int | None = None,
) -> dict[str, Any]:
    """A condition; ``lastTransitionTime`` carried over from ``previous`` if status is equal."""
    kept = previous.get("lastTransitionTime") if previous else None
    same = previous is not None and previous.get("status") == status
    result: dict[str, Any] = {
        "type": type_,
        "status": str(status),
        "reason": str(reason),
        "message": message,
        "lastTransitionTime": kept if same and kept else rfc3339(now),
    }
    if observed_generation is not None:
        result["observedGeneration"] = observed_generation
    return result


def replace(conditions: Conditions | None, new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The condition list with ``new`` in place of the condition of the same type."""
    kept = [dict(c) for c in conditions or () if c.get("type") != new["type"]]
    return [*kept, dict(new)]


# --- CertificateRequest: reasons, messages and status patches ----------------------------------

MESSAGE_ISSUED = "Certificate issued by ZeroSSL (certificate {certificate_id})"


def message_denied(denied: Mapping[str, Any] | None) -> str:
    detail = f"{denied.get('reason')}: {denied.get('message')}" if denied else "no reason given"
    return f"The request was denied by an approver ({detail}); it will not be signed"


def message_issuer_missing(ref: str) -> str:
    return f"Issuer {ref} does not exist; waiting for it to be created"


def message_issuer_not_ready(ref: str, ready: Mapping[str, Any] | None, stale: bool) -> str:
    if ready is None:
        state = "it has not been checked yet"
    elif stale:
        state = "its spec changed and has not been checked again yet"
    else:
        state = f'its Ready condition is {ready.get("reason")}: "{ready.get("message")}"'
    return f"Waiting for issuer {ref} to become ready: {state}"


def message_order_progress(order_name: str, ready: Mapping[str, Any] | None) -> str:
    if ready is None:
        return f"ZeroSSLOrder {order_name} created; waiting for it to start"
    return f"ZeroSSLOrder {order_name}: {ready.get('reason')}: {ready.get('message')}"


def message_order_failed(order_name: str, ready: Mapping[str, Any] | None) -> str:
    detail = ready.get("message") if ready else "failed"
    return f"ZeroSSLOrder {order_name} failed: {detail}"


def message_stale_order(order_name: str) -> str:
    return (
        f"ZeroSSLOrder {order_name} belongs to an earlier CertificateRequest of the same name; "
        "waiting for it to be removed"
    )


def message_no_solver(detail: str) -> str:
    return f"No solver of the issuer can validate the request: {detail}; waiting for the issuer"


MESSAGE_NAMES = 5  # names a message lists before "and N more"


def summarize_names(domains: Sequence[str]) -> str:
    """The first MESSAGE_NAMES names, then how many more (a message stays short)."""
    names = ", ".join(domains[:MESSAGE_NAMES])
    if len(domains) > MESSAGE_NAMES:
        names += f" and {len(domains) - MESSAGE_NAMES} more"
    return names


def message_order_working(order_name: str, domains: Sequence[str]) -> str:
    """Pending while the order works normally: true from its creation to its end (written
    only once the order exists)."""
    names = summarize_names(domains)
    return (
        f"ZeroSSLOrder {order_name} is getting a certificate for {names}; its status has the steps"
    )


def message_order_refused(order_name: str, detail: str) -> str:
    return f"the API server refused to create ZeroSSLOrder {order_name} for this request: {detail}"


def message_order_not_created(order_name: str, detail: str) -> str:
    return f"could not create ZeroSSLOrder {order_name} yet ({detail}); retrying with backoff"


def message_chain_mismatch(order_name: str) -> str:
    return (
        f"ZeroSSLOrder {order_name} returned a certificate whose public key does not match the "
        "CSR's"
    )


def _ready(
    conditions: Conditions | None,
    status: Status,
    reason: RequestReason,
    message: str,
    now: datetime,
) -> dict[str, Any]:
    return condition(READY, status, reason, message, now, previous=find(conditions, READY))


def _failure_time(failure_time: str | None, now: datetime) -> str:
    return failure_time or rfc3339(now)


def request_pending(conditions: Conditions | None, message: str, now: datetime) -> dict[str, Any]:
    return {"conditions": [_ready(conditions, Status.FALSE, RequestReason.PENDING, message, now)]}


def request_denied(
    conditions: Conditions | None, failure_time: str | None, now: datetime
) -> dict[str, Any]:
    message = message_denied(find(conditions, DENIED))
    return {
        "conditions": [_ready(conditions, Status.FALSE, RequestReason.DENIED, message, now)],
        "failureTime": _failure_time(failure_time, now),
    }


def request_failed(
    conditions: Conditions | None, failure_time: str | None, message: str, now: datetime
) -> dict[str, Any]:
    return {
        "conditions": [_ready(conditions, Status.FALSE, RequestReason.FAILED, message, now)],
        "failureTime": _failure_time(failure_time, now),
    }


def request_issued(
    conditions: Conditions | None, chain_pem: str, certificate_id: str, now: datetime
) -> dict[str, Any]:
    """Ready=True/Issued with ``certificate`` (a ``format: byte`` field: base64 in JSON)."""
    message = MESSAGE_ISSUED.format(certificate_id=certificate_id)
    return {
        "conditions": [_ready(conditions, Status.TRUE, RequestReason.ISSUED, message, now)],
        "certificate": base64.b64encode(chain_pem.encode()).decode(),
    }
