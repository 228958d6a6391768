"""decide_order: the ZeroSSL state machine of one order, as a pure function.

The order of decisions (each an early return):
 1. being deleted -> cancel an unfinished certificate (adopting a lost draft first), clean up
    what was presented, remove the finalizer.
 2. spec unreadable -> Failed.
 3. its CertificateRequest is gone -> DeleteOrder (which then runs step 1).
 4. finished (Issued, Failed, Cancelled) -> cancel a failed unfinished certificate, clean up.
 5. no finalizer -> AddFinalizer, before any ZeroSSL call.
 6. inside a retry backoff window -> wait.
 7. no certificate id -> wait for a Ready issuer (a used-up quota included), then
    AdoptOrCreate: a plain create for a fresh order, a search first for any other.
 8. certificate id -> wait for a usable issuer, then by ZeroSSL status: cancelled, revoked or
    expired -> Cancelled; issued -> Download; pending_validation -> AwaitIssuance (the batch
    poller, no GET per order); draft -> wait while another order of the same CSR validates
    over HTTP (``http_turn``), else Present, WaitPropagation, then Verify (with backoff while
    ZeroSSL answers "not yet"); a status ZeroSSL newly invented -> wait.

Invariant (one ZeroSSL certificate per order, whatever crashes): a create without a search is
only decided for a fresh order (``OrderFacts.fresh``: created by this leader in its current term,
no create sent yet), for which no certificate can exist; every other order without a certificate
id (after a restart, a failover, an earlier attempt) searches first and adopts the draft a lost
create left behind. ``createAttempt`` counts the attempts for people; it is recorded with the
outcome, not ahead of the call. At deletion, an order without a certificate id that is not
fresh is searched for a lost draft to cancel, unless ``cancelled`` says nothing is left.
A search adopts only a certificate no other order owns (the act layer's ``CertificateOwners``),
so adoption and cancel-on-delete never reach another order's certificate.
Long ZeroSSL delays never fail an order: only permanent errors (record_outcome) and final
ZeroSSL states do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from controller.issuer.actions import (
    AddFinalizer,
    AdoptOrCreate,
    AwaitIssuance,
    CancelAtZeroSSL,
    Cleanup,
    DeleteOrder,
    Download,
    OrderAction,
    Present,
    RemoveFinalizer,
    ResendEmail,
    Verify,
    WaitPropagation,
)
from controller.issuer.api import RESEND_EMAIL_ANNOTATION
from controller.issuer.conditions import TERMINAL_ORDER_REASONS, OrderReason
from controller.issuer.decision import warning
from controller.issuer.issuers import Issuer
from controller.issuer.order_steps import (
    DEFAULT_POLICY,
    OrderDecision,
    OrderPolicy,
    Step,
    awaiting_issuance_message,
    remote_status,
    solver_for,
    start,
)
from controller.issuer.orders import (
    CreateAttempt,
    Order,
    OrderSolver,
    OrderSpec,
    ValidationRecord,
    ValidationState,
)
from controller.issuer.timing import wait_until
from controller.zerossl.models import Certificate, CertificateStatus, ValidationMethod

CANCEL_SKIPPED = "CancelSkipped"  # the Event of an unfinished certificate left in the account


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What the act layer observed besides the order itself.

    ``issuer``: the order's issuer from the cache (None: not found). ``remote``: the freshest
    ZeroSSL view of the order's certificate (the batch poller's), if any. ``request_gone``:
    the CertificateRequest named (and uid) in ``spec.certificateRequestRef`` is missing from a
    synced cache; never set from a cache that has not synced. ``fresh``: this leader created the
    order in its current term and has sent no create for it (the act layer's memory: never true
    after a restart or a failover). ``http_turn``: another order with the same CSR (its key)
    holds the HTTP validation file, so this one waits for its turn (the act layer's
    ``HttpTurns``; only ever set for an order validating a draft over HTTP). ``account_known``:
    the order is being deleted and the act layer still holds a client of its issuer's account
    although the issuer or its Secret may be gone (a namespace being deleted), so a cancel can
    still be sent.
    """

    issuer: Issuer | None
    remote: Certificate | None = None
    request_gone: bool = False
    fresh: bool = False
    http_turn: str | None = None
    account_known: bool = False


def decide_order(
    order: Order, facts: OrderFacts, now: datetime, policy: OrderPolicy = DEFAULT_POLICY
) -> OrderDecision:
    """The next step of ``order``."""
    step = start(order)
    if order.deleting:
        return _finalize(step, facts, now, policy)
    spec = order.spec
    if spec is None:
        return step.ready(OrderReason.FAILED, order.spec_error or "unreadable spec", now).decide()
    if facts.request_gone:
        return step.decide([DeleteOrder(f"CertificateRequest {spec.request_name} is gone")])
    if order.status.ready_reason in TERMINAL_ORDER_REASONS:
        return _settle(step, spec, facts, now, policy)
    if not order.has_finalizer:
        return step.decide([AddFinalizer()])
    if (waiting := _backoff_wait(step, now)) is not None:
        return waiting
    issuer = facts.issuer
    if order.status.certificate_id is None:
        if issuer is None or not issuer.ready:
            return _wait_for_issuer(step, issuer, now, policy)
        return _create(step, spec, now, fresh=facts.fresh)
    if issuer is None or not issuer.usable:
        return _wait_for_issuer(step, issuer, now, policy)
    zerossl = remote_status(order, facts.remote)
    return _advance(step, spec, zerossl, now, policy, turn=facts.http_turn)


def _backoff_wait(step: Step, now: datetime) -> OrderDecision | None:
    """A wait while a failed call's backoff window is open, else None."""
    retry = step.status.retry
    if retry is not None and now < retry.next_time:
        return step.decide(requeue_after=wait_until(retry.next_time, now))
    return None


def _wait_for_issuer(
    step: Step, issuer: Issuer | None, now: datetime, policy: OrderPolicy
) -> OrderDecision:
    if issuer is None:
        message = "the issuer does not exist; waiting for it"
    else:
        ready = issuer.status.ready
        detail = f"{ready.get('reason')}: {ready.get('message')}" if ready else "not checked yet"
        message = f"waiting for {issuer.ref} to become ready ({detail})"
    step = step.ready(OrderReason.WAITING_FOR_ISSUER, message, now)
    return step.decide(requeue_after=policy.issuer_wait)


def _adopt_or_create(spec: OrderSpec, *, search_first: bool, allow_create: bool) -> AdoptOrCreate:
    return AdoptOrCreate(
        domains=spec.domains,
        csr_pem=spec.csr_pem,
        csr_md5=spec.csr_md5,
        csr_sha256=spec.csr_sha256,
        validity_days=spec.validity_days,
        strict_domains=spec.strict_domains,
        search_first=search_first,
        allow_create=allow_create,
    )


def _create(step: Step, spec: OrderSpec, now: datetime, *, fresh: bool) -> OrderDecision:
    """Adopt or create: a search first unless the order is fresh and was never attempted."""
    previous = step.status.create_attempt
    attempt = CreateAttempt(now, previous.count + 1 if previous else 1)
    message = f"creating the ZeroSSL certificate for {', '.join(spec.domains)}"
    step = step.with_status(create_attempt=attempt).ready(OrderReason.CREATING, message, now)
    search_first = previous is not None or not fresh
    return step.decide([_adopt_or_create(spec, search_first=search_first, allow_create=True)])


def _advance(
    step: Step,
    spec: OrderSpec,
    zerossl: CertificateStatus,
    now: datetime,
    policy: OrderPolicy,
    *,
    turn: str | None,
) -> OrderDecision:
    cert_id = step.status.certificate_id or ""
    if zerossl is not CertificateStatus.UNKNOWN and zerossl.value != step.status.zerossl_status:
        step = step.with_status(zerossl_status=zerossl.value)
    if zerossl.final:
        message = f"ZeroSSL certificate {cert_id} is {zerossl} (changed outside this controller)"
        return step.ready(OrderReason.CANCELLED, message, now).decide()
    if zerossl in (CertificateStatus.ISSUED, CertificateStatus.EXPIRING_SOON):
        message = f"ZeroSSL issued certificate {cert_id}; downloading it"
        step = step.ready(OrderReason.WAITING_FOR_ISSUANCE, message, now)
        return step.decide([Download(cert_id)])
    if zerossl is CertificateStatus.PENDING_VALIDATION:
        return _await_issuance(step, spec, cert_id, now, policy)
    if zerossl is CertificateStatus.DRAFT:
        if turn is not None:
            message = (
                f"waiting for ZeroSSLOrder {turn}, which has the same CSR, to pass HTTP "
                "validation: ZeroSSL names the validation file after the CSR, so orders "
                "sharing one are validated one at a time"
            )
            step = step.ready(OrderReason.WAITING_FOR_SAME_CSR, message, now)
            return step.decide(requeue_after=policy.turn_recheck)
        return _validate(step, spec, cert_id, now)
    message = f"ZeroSSL reports status {step.status.zerossl_status!r} for {cert_id}; waiting"
    step = step.ready(OrderReason.VALIDATING, message, now)
    return step.decide(requeue_after=policy.issuer_wait)


def _await_issuance(
    step: Step, spec: OrderSpec, cert_id: str, now: datetime, policy: OrderPolicy
) -> OrderDecision:
    """Wait for the batch poller; for EMAIL, send the approval email again when asked to."""
    message = awaiting_issuance_message(spec, step.status, cert_id)
    if step.status.validated_time is None:
        step = step.with_status(validated_time=now)
    step = step.ready(OrderReason.WAITING_FOR_ISSUANCE, message, now)
    actions: list[OrderAction] = []
    resend = step.order.annotations.get(RESEND_EMAIL_ANNOTATION)
    if (
        spec.validation_method is ValidationMethod.EMAIL
        and resend
        and resend != step.status.email_resend
    ):
        actions.append(ResendEmail(cert_id, resend))
    actions.append(AwaitIssuance(cert_id))
    return step.decide(actions, requeue_after=policy.await_recheck)


def _present(spec: OrderSpec, record: ValidationRecord, solver: OrderSolver) -> Present:
    return Present(
        record.domain, solver.method, solver.solver_index, solver.config, record.http, record.cname
    )


def _cleanup(record: ValidationRecord, solver: OrderSolver) -> Cleanup:
    return Cleanup(
        record.domain, solver.method, solver.solver_index, solver.config, record.http, record.cname
    )


def _solvers(spec: OrderSpec, records: Sequence[ValidationRecord]) -> list[OrderSolver] | str:
    """The solver of each record, or the domain of the first record that has none."""
    found: list[OrderSolver] = []
    for record in records:
        solver = solver_for(spec, record.domain)
        if solver is None:
            return record.domain
        found.append(solver)
    return found


def _validate(step: Step, spec: OrderSpec, cert_id: str, now: datetime) -> OrderDecision:
    records = step.status.validations
    solvers = _solvers(spec, records)
    if isinstance(solvers, str):
        message = f"the order has no solver for {solvers}, which ZeroSSL validates"
        return step.ready(OrderReason.FAILED, message, now).decide()
    unpresented = [
        (r, s) for r, s in zip(records, solvers, strict=True) if r.state is ValidationState.PENDING
    ]
    if unpresented:
        message = f"publishing validation for {', '.join(r.domain for r, _ in unpresented)}"
        step = step.ready(OrderReason.PRESENTING, message, now)
        # Write-ahead: ``presented`` lands before the record or route is written, so cleanup
        # (idempotent) removes it even if the outcome's status write is lost to a conflict.
        for record, _ in unpresented:
            if record.method is not ValidationMethod.EMAIL:
                step = step.with_record(record.replace(presented=True))
        return step.decide([_present(spec, r, s) for r, s in unpresented])
    waiting = [
        WaitPropagation(r.domain, r.cname, s.config)
        for r, s in zip(records, solvers, strict=True)
        if r.state is ValidationState.PRESENTED and r.cname
    ]
    if waiting:
        message = f"waiting for the DNS records of {', '.join(w.domain for w in waiting)}"
        return step.ready(OrderReason.PRESENTING, message, now).decide(waiting)
    verify = step.status.verify
    if verify is not None and now < verify.next_time:
        return step.decide(requeue_after=wait_until(verify.next_time, now))
    email = spec.validation_method is ValidationMethod.EMAIL
    emails = tuple(r.email for r in records if r.email) if email else ()
    message = f"asking ZeroSSL to validate {cert_id} ({spec.validation_method})"
    step = step.ready(OrderReason.VALIDATING, message, now)
    return step.decide([Verify(cert_id, spec.validation_method, emails)])


def _unfinished_certificate(step: Step, remote: Certificate | None) -> str | None:
    """The id of a certificate still counting against the quota, unless already cancelled."""
    status = step.status
    if status.certificate_id is None or status.cancelled:
        return None
    return status.certificate_id if remote_status(step.order, remote).unfinished else None


def _try_bounded(
    step: Step,
    action: OrderAction,
    give_up: Step,
    *,
    facts: OrderFacts,
    now: datetime,
    policy: OrderPolicy,
) -> OrderDecision | Step:
    """``action``, unless there is no account to call it with (no issuer, no client known) or
    it failed ``cancel_attempts`` times: then the ``give_up`` step, to carry on without it."""
    retry = step.status.retry
    reachable = facts.issuer is not None or facts.account_known
    if not reachable or (retry is not None and retry.attempts >= policy.cancel_attempts):
        return give_up
    return step.decide([action])


def _cancel(
    step: Step, cert_id: str, reason: str, *, facts: OrderFacts, now: datetime, policy: OrderPolicy
) -> OrderDecision | Step:
    note = f"ZeroSSL certificate {cert_id} was not cancelled; it stays in the account"
    give_up = step.with_status(cancelled=True, retry=None).event(warning(CANCEL_SKIPPED, note))
    action = CancelAtZeroSSL(cert_id, reason)
    return _try_bounded(step, action, give_up, facts=facts, now=now, policy=policy)


def _cleanups(step: Step, spec: OrderSpec | None) -> list[OrderAction]:
    presented = [r for r in step.status.validations if r.presented]
    if spec is None:
        return []
    return [
        _cleanup(record, solver)
        for record in presented
        if (solver := solver_for(spec, record.domain)) is not None
    ]


def _settle(
    step: Step, spec: OrderSpec, facts: OrderFacts, now: datetime, policy: OrderPolicy
) -> OrderDecision:
    """A finished order: cancel a failed unfinished certificate, then remove what was shown."""
    if (waiting := _backoff_wait(step, now)) is not None:
        return waiting
    cert_id = _unfinished_certificate(step, facts.remote)
    if step.status.ready_reason == OrderReason.FAILED and cert_id is not None:
        cancelled = _cancel(step, cert_id, "the order failed", facts=facts, now=now, policy=policy)
        if not isinstance(cancelled, Step):
            return cancelled
        step = cancelled
    return step.decide(_cleanups(step, spec))


def _finalize(step: Step, facts: OrderFacts, now: datetime, policy: OrderPolicy) -> OrderDecision:
    """Deletion: cancel what counts against the quota, clean up, then let the object go."""
    order = step.order
    if not order.has_finalizer:
        return step.decide()
    if (waiting := _backoff_wait(step, now)) is not None:
        return waiting
    cert_id = _unfinished_certificate(step, facts.remote)
    status = step.status
    lost_draft = (
        status.certificate_id is None
        and not status.cancelled
        and (status.create_attempt is not None or not facts.fresh)
    )
    if cert_id is not None:
        reason = "the order is being deleted"
        outcome = _cancel(step, cert_id, reason, facts=facts, now=now, policy=policy)
    elif lost_draft and order.spec is not None:
        note = "a create may have reached ZeroSSL, but the draft could not be searched for"
        give_up = step.with_status(create_attempt=None, cancelled=True, retry=None)
        search = _adopt_or_create(order.spec, search_first=True, allow_create=False)
        outcome = _try_bounded(
            step,
            search,
            give_up.event(warning(CANCEL_SKIPPED, note)),
            facts=facts,
            now=now,
            policy=policy,
        )
    else:
        outcome = step
    if not isinstance(outcome, Step):
        return outcome
    step = outcome
    cleanups = _cleanups(step, order.spec)
    if cleanups:
        return step.decide(cleanups)
    return step.decide([RemoveFinalizer()])
