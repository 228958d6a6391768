"""record_outcome: fold what an order action did into the order's status, as a pure function.

Invariants:
- The certificate id is recorded the moment ZeroSSL hands it over, even when the same answer
  also fails the order (so a failed order can still cancel it).
- Only PermanentError fails an order; "not yet" answers of verify back off (capped, the count
  kept in ``status.verify``), every other transient failure backs off in ``status.retry``;
  neither ever fails the order. An IssuerError from a ZeroSSL call flags the issuer for a
  re-check and waits for it.
- Terminal transitions clear the retry state, so cancelling counts its own attempts.
"""

from __future__ import annotations

from datetime import datetime

from controller.clock import rfc3339
from controller.issuer.actions import (
    ActionFailed,
    AdoptOrCreate,
    CancelAtZeroSSL,
    CancelledAtZeroSSL,
    CertificateObtained,
    CleanedUp,
    Cleanup,
    Download,
    Downloaded,
    EmailResent,
    FlagIssuer,
    NoDraftFound,
    OrderAction,
    Outcome,
    Present,
    Presented,
    Propagated,
    ResendEmail,
    Verified,
    Verify,
    WaitPropagation,
)
from controller.issuer.conditions import TERMINAL_ORDER_REASONS, OrderReason
from controller.issuer.decision import normal, warning
from controller.issuer.errors import IssuerError, PendingError, PermanentError, intent_for
from controller.issuer.order_steps import (
    DEFAULT_POLICY,
    OrderDecision,
    OrderPolicy,
    Step,
    awaiting_issuance_message,
    propagation_deadline,
    start,
    validation_records,
)
from controller.issuer.orders import Backoff, Order, OrderSpec, ValidationState
from controller.issuer.timing import after, backoff
from controller.zerossl.dcv import describe_details
from controller.zerossl.errors import ZeroSSLError
from controller.zerossl.models import CertificateStatus, pem_blocks

ZEROSSL_ACTIONS = (AdoptOrCreate, Verify, Download, CancelAtZeroSSL, ResendEmail)
CANNOT_CANCEL = "certificate_cannot_be_cancelled"


def record_outcome(
    order: Order, outcome: Outcome, now: datetime, policy: OrderPolicy = DEFAULT_POLICY
) -> OrderDecision:
    """The status (and follow-up actions) after ``outcome`` of an action on ``order``."""
    step = start(order)
    spec = order.spec
    if spec is None:
        return step.decide()
    match outcome:
        case CertificateObtained(certificate, adopted):
            verb = "adopted the lost draft" if adopted else "created"
            step = step.with_status(
                certificate_id=certificate.id,
                zerossl_status=certificate.status_text or certificate.status.value,
                created_time=now,
                retry=None,
            )
            try:
                records = validation_records(spec, certificate)
            except PermanentError as exc:
                return step.ready(OrderReason.FAILED, exc.message, now).decide()
            message = f"{verb} ZeroSSL certificate {certificate.id}"
            return (
                step.with_status(validations=records)
                .ready(OrderReason.PRESENTING, message, now)
                .decide()
            )
        case NoDraftFound():
            return step.with_status(create_attempt=None, cancelled=True, retry=None).decide()
        case Presented(domain):
            return _update_record(step, domain, now, presented=True)
        case Propagated():
            return _propagated(step, spec, outcome, now, policy)
        case Verified(certificate):
            records = tuple(
                r.replace(state=ValidationState.VALID, last_error=None)
                for r in step.status.validations
            )
            step = step.with_status(
                zerossl_status=certificate.status_text or certificate.status.value,
                validations=records,
                validated_time=now,
                verify=None,
                retry=None,
            )
            message = awaiting_issuance_message(spec, step.status, certificate.id)
            return step.ready(OrderReason.WAITING_FOR_ISSUANCE, message, now).decide()
        case EmailResent(token):
            note = awaiting_issuance_message(spec, step.status, step.status.certificate_id or "")
            event = normal("EmailResent", f"asked ZeroSSL to send the approval email again; {note}")
            return step.with_status(email_resend=token).event(event).decide()
        case Downloaded(chain_pem):
            blocks = pem_blocks(chain_pem)
            step = step.with_status(
                certificate="".join(blocks),
                issued_time=now,
                zerossl_status=CertificateStatus.ISSUED.value,
                retry=None,
            )
            message = f"certificate {order.status.certificate_id} issued ({len(blocks)} PEM blocks)"
            return step.ready(OrderReason.ISSUED, message, now).decide()
        case CancelledAtZeroSSL():
            status = CertificateStatus.CANCELLED.value
            return step.with_status(cancelled=True, zerossl_status=status, retry=None).decide()
        case CleanedUp(domain):
            return _update_record(step, domain, now, presented=False)
        case ActionFailed(action, error):
            return _failed(step, action, error, now, policy)


def _update_record(step: Step, domain: str, now: datetime, *, presented: bool) -> OrderDecision:
    record = step.status.validation(domain)
    if record is None:
        return step.decide()
    if presented:
        state = ValidationState.PRESENTED if record.cname else ValidationState.READY
        record = record.replace(presented=True, presented_time=now, state=state, last_error=None)
    else:
        record = record.replace(presented=False)
    return step.with_record(record).with_status(retry=None).decide()


def _propagated(
    step: Step, spec: OrderSpec, outcome: Propagated, now: datetime, policy: OrderPolicy
) -> OrderDecision:
    record = step.status.validation(outcome.domain)
    if record is None or record.state is not ValidationState.PRESENTED:
        return step.decide()
    if outcome.visible:
        ready = record.replace(state=ValidationState.READY, last_error=None)
        return step.with_record(ready).decide()
    deadline = propagation_deadline(spec, record, policy.propagation_timeout)
    if deadline is not None and now < deadline:
        return step.decide(requeue_after=policy.propagation_interval)
    note = (
        f"not visible in DNS before the propagation timeout ({outcome.detail}); "
        "asking ZeroSSL anyway"
    )
    return step.with_record(record.replace(state=ValidationState.READY, last_error=note)).decide()


def _failed(
    step: Step,
    action: OrderAction,
    error: ZeroSSLError | PendingError | PermanentError | IssuerError,
    now: datetime,
    policy: OrderPolicy,
) -> OrderDecision:
    intent = intent_for(error)
    if isinstance(action, ResendEmail):
        # A resend that failed is reported, never retried in a loop and never fatal.
        message = f"ZeroSSL did not resend the approval email: {intent.message}"
        return (
            step.with_status(email_resend=action.token)
            .event(warning("EmailResendFailed", message))
            .decide()
        )
    if (
        isinstance(action, CancelAtZeroSSL)
        and isinstance(error, ZeroSSLError)
        and error.type == CANNOT_CANCEL
    ):
        return step.with_status(cancelled=True, retry=None).decide()
    if isinstance(action, Cleanup) and isinstance(intent, PermanentError):
        record = step.status.validation(action.domain)
        step = step.event(warning("CleanupFailed", f"{action.domain}: {intent.message}"))
        return (step.with_record(record.replace(presented=False)) if record else step).decide()
    if isinstance(action, Verify) and isinstance(intent, PendingError):
        return _verify_later(step, intent, error, now, policy)
    if isinstance(intent, PermanentError) and not isinstance(action, CancelAtZeroSSL):
        return step.with_status(retry=None).ready(OrderReason.FAILED, intent.message, now).decide()
    return _retry(step, action, intent, now, policy)


def _verify_later(
    step: Step,
    intent: PendingError,
    error: ZeroSSLError | PendingError | PermanentError | IssuerError,
    now: datetime,
    policy: OrderPolicy,
) -> OrderDecision:
    attempts = (step.status.verify.attempts if step.status.verify else 0) + 1
    delay = _delay(intent, attempts, policy.verify_backoff, policy.verify_backoff_cap, policy)
    changed = attempts == 1
    if isinstance(error, ZeroSSLError):
        clauses = describe_details(error.type, error.details)
        for record in step.status.validations:
            mine = [c for c in clauses if c.split(":", 1)[0] == record.domain]
            if mine and "; ".join(mine) != record.last_error:
                changed = True
                step = step.with_record(record.replace(last_error="; ".join(mine)))
    if changed:
        # One Warning per new explanation (a CAA record, a missing CNAME...), not per attempt.
        step = step.event(warning("ValidationNotYetAccepted", intent.message))
    next_time = after(now, delay)
    step = step.with_status(verify=Backoff(attempts, next_time))
    message = (
        f"ZeroSSL has not validated yet (attempt {attempts}, next at {rfc3339(next_time)}): "
        f"{intent.message}"
    )
    return step.ready(OrderReason.VALIDATING, message, now).decide(requeue_after=delay)


def _doing(action: OrderAction) -> str:
    """What ``action`` was doing, in the user's terms (conditions never name Python types)."""
    match action:
        case AdoptOrCreate():
            return "creating the ZeroSSL certificate"
        case Verify():
            return "asking ZeroSSL to validate"
        case Download():
            return "downloading the certificate"
        case CancelAtZeroSSL():
            return "cancelling the certificate at ZeroSSL"
        case ResendEmail():
            return "resending the approval email"
        case Present(domain=domain):
            return f"publishing the validation of {domain}"
        case WaitPropagation(domain=domain):
            return f"checking that DNS shows the validation of {domain}"
        case Cleanup(domain=domain):
            return f"removing the validation of {domain}"
        case _:
            return type(action).__name__


def _delay(
    intent: PendingError, attempts: int, base: float, cap: float, policy: OrderPolicy
) -> float:
    if intent.requeue_after is not None:
        return min(intent.requeue_after, policy.throttle_cap)
    return backoff(attempts, base, cap)


def _retry(
    step: Step,
    action: OrderAction,
    intent: PendingError | PermanentError | IssuerError,
    now: datetime,
    policy: OrderPolicy,
) -> OrderDecision:
    """Back off and try again; an account problem also flags the issuer."""
    attempts = (step.status.retry.attempts if step.status.retry else 0) + 1
    pending = intent if isinstance(intent, PendingError) else PendingError(intent.message)
    delay = _delay(pending, attempts, policy.retry_backoff, policy.retry_backoff_cap, policy)
    step = step.with_status(retry=Backoff(attempts, after(now, delay), intent.message))
    if isinstance(action, Present | WaitPropagation) and (
        record := step.status.validation(action.domain)
    ):
        step = step.with_record(record.replace(last_error=intent.message))
    actions: list[OrderAction] = []
    terminal = step.status.ready_reason in TERMINAL_ORDER_REASONS
    if isinstance(intent, IssuerError) and isinstance(action, ZEROSSL_ACTIONS):
        ref = step.order.issuer_ref
        if ref is not None:
            actions.append(FlagIssuer(ref, intent.reason, intent.message))
        if not terminal:
            message = f"the ZeroSSL account failed ({intent.reason}): {intent.message}"
            step = step.ready(OrderReason.WAITING_FOR_ISSUER, message, now)
    elif not terminal:
        next_time = rfc3339(after(now, delay))
        message = (
            f"{_doing(action)} failed (attempt {attempts}, next at {next_time}): {intent.message}"
        )
        step = step.note(message, now)
    return step.decide(actions, requeue_after=delay)
