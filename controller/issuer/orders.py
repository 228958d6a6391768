"""A ZeroSSLOrder: its spec (fixed at creation), its status, and the manifest that creates it.

Invariants:
- The spec is written once by :func:`order_manifest` and never changes (the CRD enforces it);
  it records the solver chosen for every domain, so issuer edits never change an order in
  flight.
- ``OrderStatus.from_dict(s.to_dict()) == s``: the status is always written whole.
- :meth:`Order.from_object` never raises; a spec that cannot be read is kept as
  ``spec_error`` and the order fails with it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from controller.issuer.api import (
    API_VERSION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    ORDER_FINALIZER,
    IssuerKind,
    IssuerRef,
    issuer_ref_of_order,
)
from controller.issuer.conditions import READY, find
from controller.issuer.jsonfields import as_dict, parse_time, put_time
from controller.issuer.spec import Method, Solver, SpecError, parse_method
from controller.zerossl.models import ValidationMethod

ORDER_KIND = "ZeroSSLOrder"
# The ZeroSSLOrder schema's limits (manifests/crds): a request beyond them can never become an
# order. ZeroSSL publishes no numeric SAN limit (2880 invalid_san); 100 is the order's.
MAX_DOMAINS = 100  # spec.domains maxItems (and spec.solvers maxItems: one entry per domain)
MAX_REQUEST_LENGTH = 65536  # spec.request maxLength: the base64 text of the PEM CSR


# --- spec --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderSolver:
    """The solver an order uses for one domain (a copy of the issuer's solver at creation)."""

    domain: str
    solver_index: int
    method: Method
    config: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class OrderSpec:
    request_name: str
    request_uid: str
    issuer_kind: IssuerKind
    issuer_name: str
    request: str  # base64 of the PEM CSR, as in the CertificateRequest
    domains: tuple[str, ...]
    validity_days: int
    strict_domains: bool
    csr_md5: str
    csr_sha256: str
    validation_method: ValidationMethod
    solvers: tuple[OrderSolver, ...]

    @property
    def csr_pem(self) -> str:
        """The PEM CSR (``request`` is checked to be base64 of ASCII when read)."""
        return base64.b64decode(self.request).decode("ascii")

    def solver_for(self, domain: str) -> OrderSolver | None:
        return next((s for s in self.solvers if s.domain == domain), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "certificateRequestRef": {"name": self.request_name, "uid": self.request_uid},
            "issuerRef": {"kind": str(self.issuer_kind), "name": self.issuer_name},
            "request": self.request,
            "domains": list(self.domains),
            "validityDays": self.validity_days,
            "strictDomains": self.strict_domains,
            "csrHash": {"md5": self.csr_md5, "sha256": self.csr_sha256},
            "validationMethod": str(self.validation_method),
            "solvers": [
                {"domain": s.domain, "solverIndex": s.solver_index, s.method.value: dict(s.config)}
                for s in self.solvers
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OrderSpec:
        """Raises SpecError (or KeyError/ValueError, reported the same way) if unreadable."""
        ref, issuer, digest = (
            as_dict(data.get(k)) for k in ("certificateRequestRef", "issuerRef", "csrHash")
        )
        solvers = []
        for index, entry in enumerate(data.get("solvers") or ()):
            where = f"spec.solvers[{index}]"
            method, config = parse_method(as_dict(entry), where)
            solvers.append(
                OrderSolver(str(entry["domain"]), int(entry["solverIndex"]), method, config)
            )
        domains = tuple(str(d) for d in data.get("domains") or ())
        if not domains:
            raise SpecError("spec.domains is empty")
        try:
            base64.b64decode(str(data["request"]), validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            raise SpecError("spec.request is not base64 of a PEM CSR") from None
        return cls(
            request_name=str(ref["name"]),
            request_uid=str(ref["uid"]),
            issuer_kind=IssuerKind(issuer["kind"]),
            issuer_name=str(issuer["name"]),
            request=str(data["request"]),
            domains=domains,
            validity_days=int(data["validityDays"]),
            strict_domains=data.get("strictDomains", True) is not False,
            csr_md5=str(digest["md5"]),
            csr_sha256=str(digest["sha256"]),
            validation_method=ValidationMethod(data["validationMethod"]),
            solvers=tuple(solvers),
        )


# --- status ------------------------------------------------------------------------------------


class ValidationState(StrEnum):
    PENDING = "Pending"  # nothing presented yet
    PRESENTED = "Presented"  # published; a DNS record may not be visible yet
    READY = "Ready"  # visible to ZeroSSL (or nothing to publish: email)
    VALID = "Valid"  # ZeroSSL accepted the validation


@dataclass(frozen=True, slots=True)
class HttpRecord:
    url: str
    path: str
    content: str


@dataclass(frozen=True, slots=True)
class CnameRecord:
    name: str
    target: str


@dataclass(frozen=True, slots=True)
class ValidationRecord:
    """How one domain is validated, as ZeroSSL asked for it, and how far that got."""

    domain: str
    method: ValidationMethod
    solver_index: int
    state: ValidationState
    presented: bool = False
    presented_time: datetime | None = None
    http: HttpRecord | None = None
    cname: CnameRecord | None = None
    email: str | None = None
    last_error: str | None = None

    def replace(self, **changes: Any) -> ValidationRecord:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "domain": self.domain,
            "method": str(self.method),
            "solverIndex": self.solver_index,
            "state": str(self.state),
            "presented": self.presented,
        }
        put_time(out, "presentedTime", self.presented_time)
        if self.http:
            out["http"] = {
                "url": self.http.url,
                "path": self.http.path,
                "content": self.http.content,
            }
        if self.cname:
            out["cname"] = {"name": self.cname.name, "target": self.cname.target}
        if self.email:
            out["email"] = {"address": self.email}
        if self.last_error:
            out["lastError"] = self.last_error
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidationRecord:
        http, cname, email = (as_dict(data.get(k)) for k in ("http", "cname", "email"))
        return cls(
            domain=str(data["domain"]),
            method=ValidationMethod(data["method"]),
            solver_index=int(data.get("solverIndex", 0)),
            state=ValidationState(data.get("state", ValidationState.PENDING)),
            presented=data.get("presented") is True,
            presented_time=parse_time(data.get("presentedTime")),
            http=HttpRecord(str(http["url"]), str(http["path"]), str(http["content"]))
            if http
            else None,
            cname=CnameRecord(str(cname["name"]), str(cname["target"])) if cname else None,
            email=str(email["address"]) if email else None,
            last_error=data.get("lastError") or None,
        )


@dataclass(frozen=True, slots=True)
class CreateAttempt:
    """The create attempts so far and when the last was sent (recorded with its outcome)."""

    time: datetime
    count: int


@dataclass(frozen=True, slots=True)
class Backoff:
    """Attempts so far and the earliest time of the next one."""

    attempts: int
    next_time: datetime
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class OrderStatus:
    conditions: tuple[Mapping[str, Any], ...] = ()
    certificate_id: str | None = None
    zerossl_status: str | None = None
    create_attempt: CreateAttempt | None = None
    validations: tuple[ValidationRecord, ...] = ()
    certificate: str | None = None
    created_time: datetime | None = None
    validated_time: datetime | None = None
    issued_time: datetime | None = None
    verify: Backoff | None = None
    retry: Backoff | None = None
    cancelled: bool = False
    trace_context: Mapping[str, str] = field(default_factory=dict)
    email_resend: str | None = None  # the resend-email annotation value last honoured

    @property
    def ready(self) -> Mapping[str, Any] | None:
        return find(self.conditions, READY)

    @property
    def ready_reason(self) -> str | None:
        ready = self.ready
        return str(ready.get("reason")) if ready else None

    def replace(self, **changes: Any) -> OrderStatus:
        return dataclasses.replace(self, **changes)

    def with_validation(self, record: ValidationRecord) -> OrderStatus:
        """The status with ``record`` in place of the record of the same domain."""
        records = tuple(record if v.domain == record.domain else v for v in self.validations)
        return self.replace(validations=records)

    def validation(self, domain: str) -> ValidationRecord | None:
        return next((v for v in self.validations if v.domain == domain), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"conditions": [dict(c) for c in self.conditions]}
        if self.certificate_id:
            out["certificateID"] = self.certificate_id
        if self.zerossl_status:
            out["zerosslStatus"] = self.zerossl_status
        if self.create_attempt:
            out["createAttempt"] = {"count": self.create_attempt.count}
            put_time(out["createAttempt"], "time", self.create_attempt.time)
        out["validations"] = [v.to_dict() for v in self.validations]
        if self.certificate:
            out["certificate"] = self.certificate
        put_time(out, "createdTime", self.created_time)
        put_time(out, "validatedTime", self.validated_time)
        put_time(out, "issuedTime", self.issued_time)
        if self.verify:
            out["verify"] = {"attempts": self.verify.attempts}
            put_time(out["verify"], "nextTime", self.verify.next_time)
        if self.retry:
            out["retry"] = {"attempts": self.retry.attempts}
            put_time(out["retry"], "notBefore", self.retry.next_time)
            if self.retry.last_error:
                out["retry"]["lastError"] = self.retry.last_error
        out["cancelled"] = self.cancelled
        if self.trace_context:
            out["traceContext"] = dict(self.trace_context)
        if self.email_resend:
            out["emailResend"] = self.email_resend
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OrderStatus:
        attempt, verify, retry = (
            as_dict(data.get(k)) for k in ("createAttempt", "verify", "retry")
        )
        attempt_time, verify_time = (
            parse_time(attempt.get("time")),
            parse_time(verify.get("nextTime")),
        )
        retry_time = parse_time(retry.get("notBefore"))
        return cls(
            conditions=tuple(c for c in data.get("conditions") or () if isinstance(c, dict)),
            certificate_id=data.get("certificateID") or None,
            zerossl_status=data.get("zerosslStatus") or None,
            create_attempt=CreateAttempt(attempt_time, int(attempt.get("count", 1)))
            if attempt_time
            else None,
            validations=tuple(
                ValidationRecord.from_dict(v)
                for v in data.get("validations") or ()
                if isinstance(v, dict)
            ),
            certificate=data.get("certificate") or None,
            created_time=parse_time(data.get("createdTime")),
            validated_time=parse_time(data.get("validatedTime")),
            issued_time=parse_time(data.get("issuedTime")),
            verify=Backoff(int(verify.get("attempts", 0)), verify_time) if verify_time else None,
            retry=Backoff(int(retry.get("attempts", 1)), retry_time, retry.get("lastError") or None)
            if retry_time
            else None,
            cancelled=data.get("cancelled") is True,
            trace_context={str(k): str(v) for k, v in as_dict(data.get("traceContext")).items()},
            email_resend=data.get("emailResend") or None,
        )


# --- the object --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Order:
    namespace: str
    name: str
    uid: str
    generation: int
    spec: OrderSpec | None
    status: OrderStatus = field(default_factory=OrderStatus)
    spec_error: str | None = None
    finalizers: tuple[str, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)
    deleting: bool = False

    @property
    def issuer_ref(self) -> IssuerRef | None:
        if self.spec is None:
            return None
        return issuer_ref_of_order(self.spec.issuer_kind, self.spec.issuer_name, self.namespace)

    @property
    def has_finalizer(self) -> bool:
        return ORDER_FINALIZER in self.finalizers

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Order:
        meta = as_dict(obj.get("metadata"))
        spec: OrderSpec | None = None
        error: str | None = None
        try:
            spec = OrderSpec.from_dict(as_dict(obj.get("spec")))
        except (SpecError, KeyError, TypeError, ValueError) as exc:
            error = f"the order's spec cannot be read: {exc}"
        status = _status_of(obj)
        generation = meta.get("generation")
        return cls(
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            uid=str(meta.get("uid") or ""),
            generation=generation if isinstance(generation, int) else 0,
            spec=spec,
            status=status,
            spec_error=error,
            finalizers=tuple(str(f) for f in meta.get("finalizers") or ()),
            annotations={str(k): str(v) for k, v in as_dict(meta.get("annotations")).items()},
            deleting=bool(meta.get("deletionTimestamp")),
        )

    def with_status_of(self, obj: Mapping[str, Any]) -> Order:
        """This order with ``obj``'s status: for a later state of the same object whose
        metadata and spec are this one's (the spec is not parsed again)."""
        return dataclasses.replace(self, status=_status_of(obj))


def _status_of(obj: Mapping[str, Any]) -> OrderStatus:
    """The object's status; an empty one if it cannot be read."""
    try:
        return OrderStatus.from_dict(as_dict(obj.get("status")))
    except (KeyError, TypeError, ValueError):
        return OrderStatus()


def order_manifest(
    *,
    namespace: str,
    request_name: str,
    request_uid: str,
    issuer: IssuerRef,
    request: str,
    domains: Sequence[str],
    validity_days: int,
    strict_domains: bool,
    csr_md5: str,
    csr_sha256: str,
    choices: Sequence[tuple[str, Solver]],
) -> dict[str, Any]:
    """The ZeroSSLOrder to create for a request: same name, owned by it, with the finalizer.

    The owner reference has ``controller: true`` and no ``blockOwnerDeletion`` (that would need
    update on certificaterequests/finalizers, which the controller is not granted).
    """
    methods = {solver.method.zerossl for _, solver in choices}
    (method,) = methods
    spec = OrderSpec(
        request_name=request_name,
        request_uid=request_uid,
        issuer_kind=issuer.kind,
        issuer_name=issuer.name,
        request=request,
        domains=tuple(domains),
        validity_days=validity_days,
        strict_domains=strict_domains,
        csr_md5=csr_md5,
        csr_sha256=csr_sha256,
        validation_method=method,
        solvers=tuple(OrderSolver(domain, s.index, s.method, s.config) for domain, s in choices),
    )
    return {
        "apiVersion": API_VERSION,
        "kind": ORDER_KIND,
        "metadata": {
            "name": request_name,
            "namespace": namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY},
            "finalizers": [ORDER_FINALIZER],
            "ownerReferences": [
                {
                    "apiVersion": "cert-manager.io/v1",
                    "kind": "CertificateRequest",
                    "name": request_name,
                    "uid": request_uid,
                    "controller": True,
                }
            ],
        },
        "spec": spec.to_dict(),
    }
