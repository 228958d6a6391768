"""API errors as the kube-apiserver reports them: an HTTP code plus a ``meta.k8s.io/v1 Status``.

Invariant: every failure a handler produces is a :class:`StatusError`; its :meth:`body` is the
exact ``Status`` object a real server would send (reason, code, details and causes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Cause:
    """One field-level problem (``details.causes[]``)."""

    reason: str
    message: str
    field: str

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


@dataclass(slots=True)
class StatusError(Exception):
    code: int
    reason: str
    message: str
    name: str | None = None
    group: str | None = None
    kind: str | None = None
    causes: list[Cause] = field(default_factory=list)
    retry_after: int | None = None

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"

    def body(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name is not None:
            details["name"] = self.name
        if self.group is not None:
            details["group"] = self.group
        if self.kind is not None:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.as_dict() for c in self.causes]
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            status["details"] = details
        return status


def success_status(name: str, group: str, kind: str, uid: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name, "group": group, "kind": kind, "uid": uid},
    }


def qualified(plural: str, group: str) -> str:
    """``certificaterequests.cert-manager.io`` or ``secrets`` (how messages name a resource)."""
    return f"{plural}.{group}" if group else plural


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def forbidden(message: str, name: str | None, group: str, kind: str) -> StatusError:
    return StatusError(403, "Forbidden", message, name=name, group=group, kind=kind)


def not_found(plural: str, group: str, name: str) -> StatusError:
    return StatusError(
        404, "NotFound", f'{qualified(plural, group)} "{name}" not found', name, group, plural
    )


def path_not_found() -> StatusError:
    return StatusError(404, "NotFound", "the server could not find the requested resource")


def method_not_allowed(verb: str, plural: str, group: str) -> StatusError:
    return StatusError(
        405,
        "MethodNotAllowed",
        f'the server does not allow this method on the requested resource ("{verb}" on '
        f"{qualified(plural, group)})",
    )


def already_exists(plural: str, group: str, name: str, *, deleting: bool = False) -> StatusError:
    what = f'{qualified(plural, group)} "{name}"'
    message = (
        f"object is being deleted: {what} already exists" if deleting else f"{what} already exists"
    )
    return StatusError(409, "AlreadyExists", message, name, group, plural)


def conflict(plural: str, group: str, name: str, reason: str) -> StatusError:
    message = f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {reason}'
    return StatusError(409, "Conflict", message, name, group, plural)


OPTIMISTIC_LOCK = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def gone(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def invalid(kind: str, group: str, name: str, causes: list[Cause]) -> StatusError:
    listed = ", ".join(f"{c.field}: {c.message}" if c.field else c.message for c in causes)
    target = f"{kind}.{group}" if group else kind
    return StatusError(
        422,
        "Invalid",
        f'{target} "{name}" is invalid: {listed if len(causes) == 1 else f"[{listed}]"}',
        name,
        group,
        kind,
        causes,
    )


def unknown_format(detail: str) -> StatusError:
    """415: the body's format (``detail`` says what is accepted or missing)."""
    return StatusError(
        415, "UnsupportedMediaType", f"the body of the request was in an unknown format - {detail}"
    )


def unsupported_media_type(content_type: str) -> StatusError:
    return unknown_format(
        "accepted media types include: application/json-patch+json, "
        f"application/merge-patch+json, application/apply-patch+yaml (got {content_type})"
    )


def too_many_requests(retry_after: int) -> StatusError:
    return StatusError(
        429,
        "TooManyRequests",
        "Too many requests, please try again later.",
        retry_after=retry_after,
    )


def internal_error(message: str) -> StatusError:
    return StatusError(500, "InternalError", f"Internal error occurred: {message}")


def too_large_resource_version(requested: int, current: int) -> StatusError:
    return StatusError(
        504,
        "Timeout",
        f"Too large resource version: {requested}, current: {current}",
        causes=[Cause("ResourceVersionTooLarge", "Too large resource version", "")],
        retry_after=1,
    )
