"""Pieces shared by decide_order and record_outcome: policy, backoff, Ready transitions, the
validation records built from ZeroSSL's answer, turning a new status into a Decision, and
which new status may wait unwritten for the next write (:func:`deferrable`).

Invariants: an order's Ready condition always carries ``observedGeneration``; an Event is
emitted exactly when the Ready reason changes to one a person must hear of: a Warning for Failed
and Cancelled, a Normal one when an approval email waits to be clicked (routine steps are in the
condition and the issuance trace, and the CertificateRequest carries the user-facing Normal
Events: an Event per step would double the API writes of an issuance); a Decision
carries a status only when the status differs from the one observed, and always carries the
trace context (taken once from the order's traceparent annotation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controller.config import Settings
from controller.issuer.actions import OrderAction
from controller.issuer.api import TRACEPARENT_ANNOTATION
from controller.issuer.conditions import READY, OrderReason, Status, condition, find, replace
from controller.issuer.decision import Decision, Event, EventType, requeue_in
from controller.issuer.errors import PermanentError
from controller.issuer.orders import (
    CnameRecord,
    HttpRecord,
    Order,
    OrderSolver,
    OrderSpec,
    OrderStatus,
    ValidationRecord,
    ValidationState,
)
from controller.issuer.spec import Method
from controller.issuer.timing import after
from controller.zerossl.models import (
    Certificate,
    CertificateStatus,
    DomainValidation,
    ValidationMethod,
)

OrderDecision = Decision[OrderAction]


@dataclass(frozen=True, slots=True)
class OrderPolicy:
    """Timings of the order state machine (seconds)."""

    verify_backoff: float = 15.0  # first wait after ZeroSSL answered "not yet"
    verify_backoff_cap: float = 600.0
    retry_backoff: float = 5.0  # first wait after a transient failure
    retry_backoff_cap: float = 300.0
    throttle_cap: float = 3600.0  # longest Retry-After honoured as is
    propagation_timeout: float = 300.0  # then ZeroSSL is asked anyway
    propagation_interval: float = 5.0
    issuer_wait: float = 300.0  # re-look while waiting for the issuer (its watch wakes us sooner)
    await_recheck: float = 1800.0  # safety net while the batch poller watches a certificate
    cancel_attempts: int = 10  # at deletion, give up cancelling after this many failures
    turn_recheck: float = 60.0  # re-look while another order of the CSR validates (woken sooner)
    defer_max: float = 30.0  # longest an accepted validation stays unwritten (see deferrable)

    @classmethod
    def from_settings(cls, settings: Settings) -> OrderPolicy:
        return cls(
            propagation_timeout=settings.dns_propagation_timeout,
            propagation_interval=settings.dns_propagation_interval,
        )


DEFAULT_POLICY = OrderPolicy()


_WARNING_REASONS = frozenset({OrderReason.FAILED, OrderReason.CANCELLED})


@dataclass(frozen=True, slots=True)
class Step:
    """A status being built for one decision, with the Events its Ready changes produce."""

    order: Order
    status: OrderStatus
    events: tuple[Event, ...] = ()

    def ready(self, reason: OrderReason, message: str, now: datetime) -> Step:
        """Sets Ready (True only for Issued); an Event when it turns to a reason a person must
        hear of."""
        previous = self.status.ready
        status = Status.TRUE if reason is OrderReason.ISSUED else Status.FALSE
        events = self.events
        if previous is None or previous.get("reason") != reason:
            if reason in _WARNING_REASONS:
                events = (*events, Event(EventType.WARNING, str(reason), message))
            elif reason is OrderReason.WAITING_FOR_ISSUANCE and self._by_email:
                events = (*events, Event(EventType.NORMAL, str(reason), message))
        return Step(self.order, self._with_ready(status, reason, message, now), events)

    @property
    def _by_email(self) -> bool:
        spec = self.order.spec
        return spec is not None and spec.validation_method is ValidationMethod.EMAIL

    def note(self, message: str, now: datetime) -> Step:
        """A new Ready message under the current reason (nothing if there is no Ready yet)."""
        ready = self.status.ready
        if ready is None:
            return self
        status = Status(ready.get("status", Status.FALSE))
        conditioned = self._with_ready(status, str(ready.get("reason")), message, now)
        return Step(self.order, conditioned, self.events)

    def _with_ready(self, status: Status, reason: str, message: str, now: datetime) -> OrderStatus:
        new = condition(
            READY,
            status,
            reason,
            message,
            now,
            previous=self.status.ready,
            observed_generation=self.order.generation,
        )
        return self.status.replace(conditions=tuple(replace(self.status.conditions, new)))

    def with_record(self, record: ValidationRecord) -> Step:
        return Step(self.order, self.status.with_validation(record), self.events)

    def with_status(self, **changes: Any) -> Step:
        return Step(self.order, self.status.replace(**changes), self.events)

    def event(self, event: Event) -> Step:
        return Step(self.order, self.status, (*self.events, event))

    def decide(
        self, actions: Sequence[OrderAction] = (), requeue_after: float | None = None
    ) -> OrderDecision:
        status = self.status
        if not status.trace_context and (
            parent := self.order.annotations.get(TRACEPARENT_ANNOTATION)
        ):
            status = status.replace(trace_context={"traceparent": parent})
        changed = status != self.order.status
        return Decision(
            status.to_dict() if changed else None,
            self.events,
            tuple(actions),
            requeue_in(requeue_after) if requeue_after is not None else None,
        )


def start(order: Order) -> Step:
    return Step(order, order.status)


def remote_status(order: Order, remote: Certificate | None) -> CertificateStatus:
    """The certificate's ZeroSSL status: the poller's view if it is newer, else the recorded one.

    A view never moves the status backwards (a stale list result after a verify), except to a
    final state, which always wins.
    """
    recorded = CertificateStatus.parse(order.status.zerossl_status)
    if remote is None or remote.id != order.status.certificate_id:
        return recorded
    if remote.status.final or _rank(remote.status) >= _rank(recorded):
        return remote.status
    return recorded


_RANKS = {
    CertificateStatus.DRAFT: 0,
    CertificateStatus.PENDING_VALIDATION: 1,
    CertificateStatus.ISSUED: 2,
    CertificateStatus.EXPIRING_SOON: 2,
}


def _rank(status: CertificateStatus) -> int:
    return _RANKS.get(status, 3 if status.final else -1)


def _www_twin(domain: str) -> str:
    return domain.removeprefix("www.") if domain.startswith("www.") else f"www.{domain}"


_DEFERRED_OVER = frozenset({OrderReason.PRESENTING, OrderReason.VALIDATING})


def deferrable(order: Order, stored: Mapping[str, Any]) -> bool:
    """True when ``order``'s status may stay unwritten in memory for a while (at most
    ``OrderPolicy.defer_max``) over the ``stored`` one (the API server's): it only adds that
    ZeroSSL accepted the validation, which a lost status redoes safely (verify again, ZeroSSL
    answers 2830, the certificate is read back); the next write that must happen (the
    certificate) carries it. Never for email validation (a wait for a person is shown at once,
    with its Event), nor over a stored backoff (the CertificateRequest mirrors it, so its end
    is shown at once)."""
    status, spec = order.status, order.spec
    stored_ready = find(stored.get("conditions"), READY)
    return (
        spec is not None
        and spec.validation_method is not ValidationMethod.EMAIL
        and status.ready_reason == OrderReason.WAITING_FOR_ISSUANCE
        and CertificateStatus.parse(status.zerossl_status) is CertificateStatus.PENDING_VALIDATION
        and status.retry is None
        and status.verify is None
        and stored_ready is not None
        and stored_ready.get("reason") in _DEFERRED_OVER
        and not stored.get("retry")
        and not stored.get("verify")
    )


def solver_for(spec: OrderSpec, domain: str) -> OrderSolver | None:
    """The domain's solver; a www/non-www variant ZeroSSL added uses its twin's solver."""
    return spec.solver_for(domain) or spec.solver_for(_www_twin(domain))


def awaiting_issuance_message(spec: OrderSpec, status: OrderStatus, cert_id: str) -> str:
    """What the order waits for once ZeroSSL accepted the validation request."""
    if spec.validation_method is ValidationMethod.EMAIL:
        addresses = ", ".join(dict.fromkeys(r.email for r in status.validations if r.email))
        return f"waiting for the approval email to {addresses or 'the domain admin'} ({cert_id})"
    return f"validation accepted; ZeroSSL is issuing {cert_id}"


def email_address(solver: OrderSolver, domain: str) -> str:
    """``localPart@domain``; the solver's ``domain`` override applies to names inside it."""
    local = str(solver.config.get("localPart") or "admin")
    bare = domain.removeprefix("*.").lower()
    override = str(solver.config.get("domain") or "").lower().rstrip(".")
    base = override if override and (bare == override or bare.endswith("." + override)) else bare
    return f"{local}@{base}"


def validation_records(spec: OrderSpec, certificate: Certificate) -> tuple[ValidationRecord, ...]:
    """One record per name ZeroSSL will validate; PermanentError if one cannot be validated."""
    names = certificate.domains or spec.domains
    return tuple(_record(spec, name, certificate.validation_for(name)) for name in names)


def _record(spec: OrderSpec, domain: str, data: DomainValidation | None) -> ValidationRecord:
    solver = solver_for(spec, domain)
    if solver is None:
        raise PermanentError(
            "UnexpectedDomain", f"ZeroSSL added {domain}, which the order has no solver for"
        )
    method, index = spec.validation_method, solver.solver_index
    if solver.method is Method.EMAIL:
        address = email_address(solver, domain)
        offered = data.emails if data else ()
        if offered and address not in {e.lower() for e in offered}:
            raise PermanentError(
                "EmailNotOffered",
                f"ZeroSSL does not mail {address} for {domain}; it offers {', '.join(offered)}",
            )
        return ValidationRecord(domain, method, index, ValidationState.READY, email=address)
    if solver.method is Method.HTTP and data and data.file_url_http and data.file_path:
        http = HttpRecord(data.file_url_http, data.file_path, data.file_body)
        return ValidationRecord(domain, method, index, ValidationState.PENDING, http=http)
    if solver.method is Method.DNS and data and data.cname_name and data.cname_target:
        cname = CnameRecord(data.cname_name, data.cname_target)
        return ValidationRecord(domain, method, index, ValidationState.PENDING, cname=cname)
    raise PermanentError(
        "NoValidationData", f"ZeroSSL returned no {solver.method} validation data for {domain}"
    )


def propagation_deadline(
    spec: OrderSpec, record: ValidationRecord, default: float
) -> datetime | None:
    """When to stop waiting for a presented record to be visible (solver setting or default)."""
    if record.presented_time is None:
        return None
    solver = solver_for(spec, record.domain)
    propagation = solver.config.get("propagation") if solver else None
    configured = propagation.get("timeoutSeconds") if isinstance(propagation, dict) else None
    timeout = float(configured) if isinstance(configured, int) else default
    return after(record.presented_time, timeout)
