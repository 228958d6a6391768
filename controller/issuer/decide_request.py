"""decide_certificate_request: issuer-lib's reconcile, as a pure function.

The order of decisions (each an early return):
 1. issuerRef of another group (an empty group is cert-manager.io) -> nothing, ever.
 2. neither Approved nor Denied -> nothing (not even a condition).
 3. terminal (Ready=True, Ready=False/Failed or /Denied, InvalidRequest=True) -> nothing.
 4. Denied -> Ready=False/Denied + failureTime.
 5. (issuer-lib writes Ready=Unknown/Initializing here and returns; this controller goes on to
    the first real state instead, as cert-manager core does: one status write and one Event
    fewer per issuance. An Initializing condition written by an older version is not terminal.)
 6. issuerRef of our group with a kind we do not serve -> Failed (it can never be served).
 7. an order of an earlier request of the same name -> Pending until it is gone.
 8. the order finished -> Issued (chain leaf must carry the CSR's key) or Failed. A finished
    order needs no further ZeroSSL call, so it is mirrored whatever the issuer's state.
 9. issuer missing -> Pending; issuer not Ready at its current generation -> Pending.
10. no order -> check the request (Failed for what can never succeed: bad CSR, names the order
    schema cannot hold...), choose a solver per domain (Pending if none fits), then
    EnsureOrder. Creating the order is routine: nothing is written on the request for it
    (cert-manager waits for Ready=True or a terminal reason, so a routine Pending would be a
    write nobody reads), unless the request already shows a Ready condition (a Pending about
    the issuer, say), which is replaced by the "working" message so that it does not go on
    saying what no longer holds. The act layer creates the order BEFORE writing that (the
    request never claims an order that does not exist); if the API server refuses the order
    as invalid, :func:`order_refused` is written instead (Failed: the same request always
    yields the same order); if the create fails otherwise (API server unavailable, RBAC),
    :func:`order_not_created` (Pending, retried with backoff).
11. order in progress -> what needs a person is mirrored as Pending: an order waiting for its
    issuer, backing off after a failed call, told by ZeroSSL that a domain does not validate
    yet (a CAA record, a missing CNAME...), or waiting for an approval email. Routine progress
    writes nothing (the order's own status has the steps); a request that shows a Ready
    condition gets the "working" message instead (the trouble it showed has cleared).

So a request shows no Ready condition while its order works routinely, and a Pending one
whenever there is something to say. Events follow cert-manager's reporter: one on entering
Pending (not on every Pending update), one on each of Denied, Failed and Issued; the "working"
message records none (routine work: the Issued Event follows). Requeues are never asked for:
issuer and order watches wake the request. A decision that would rewrite the same Ready
condition writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from controller.issuer import conditions as cond
from controller.issuer.actions import EnsureOrder
from controller.issuer.api import ForeignRef, IssuerRef, UnknownKind
from controller.issuer.conditions import OrderReason, RequestReason, Status
from controller.issuer.csr_policy import check_request, leaf_matches_csr
from controller.issuer.decision import Decision, normal, warning
from controller.issuer.errors import PermanentError
from controller.issuer.issuers import Issuer
from controller.issuer.orders import Order, order_manifest
from controller.issuer.request import CertificateRequest
from controller.issuer.solvers.select import NoSolver, plan_validation
from controller.issuer.spec import IssuerSpec
from controller.zerossl.models import ValidationMethod

RequestDecision = Decision[EnsureOrder]
NOTHING: RequestDecision = Decision()


def decide_certificate_request(
    request: CertificateRequest, issuer: Issuer | None, order: Order | None, now: datetime
) -> RequestDecision:
    """What to do about ``request`` given its issuer and order as found (None: not found)."""
    ref = request.issuer_ref
    if isinstance(ref, ForeignRef) or nothing_to_decide(request):
        return NOTHING
    conditions = request.conditions
    denied = cond.is_true(conditions, cond.DENIED)
    if denied:
        patch = cond.request_denied(conditions, request.failure_time, now)
        return Decision(patch, (warning("Denied", _message(patch)),))
    if isinstance(ref, UnknownKind):
        return _failed(request, "IssuerKindUnknown", ref.message, now)
    if order is not None and order.spec is not None and order.spec.request_uid != request.uid:
        return _pending(request, "StaleOrder", cond.message_stale_order(order.name), now)
    if order is not None and (finished := _finished(request, order, now)) is not None:
        return finished
    if issuer is None:
        return _pending(request, "IssuerNotFound", cond.message_issuer_missing(str(ref)), now)
    if not issuer.ready or issuer.spec is None:
        message = cond.message_issuer_not_ready(
            str(ref), issuer.status.ready, stale=not issuer.ready_is_current
        )
        return _pending(request, "IssuerNotReady", message, now)
    if order is None:
        return _create_order(request, ref, issuer.spec, now)
    return _progress(request, order, now)


def nothing_to_decide(request: CertificateRequest) -> bool:
    """Steps 1-3 (another group's issuer, neither Approved nor Denied, terminal): from these
    :func:`decide_certificate_request` decides nothing whatever the issuer and the order, so a
    reconcile need not look them up."""
    if isinstance(request.issuer_ref, ForeignRef):
        return True
    conditions = request.conditions
    if not cond.is_true(conditions, cond.DENIED) and not cond.is_true(conditions, cond.APPROVED):
        return True
    return request_finished(conditions)


def order_refused(request: CertificateRequest, detail: str, now: datetime) -> RequestDecision:
    """Failed: the API server refused the ZeroSSLOrder of this request as invalid (422)."""
    return _failed(request, "OrderRejected", cond.message_order_refused(request.name, detail), now)


def order_not_created(request: CertificateRequest, detail: str, now: datetime) -> RequestDecision:
    """Pending: creating the ZeroSSLOrder failed in a way that may pass; it is retried."""
    message = cond.message_order_not_created(request.name, detail)
    return _pending(request, "OrderNotCreated", message, now)


def _needs_attention(reason: str | None, *, retry: bool, verify: bool, by_email: bool) -> bool:
    """An order at work whose Ready condition the request mirrors: backing off after a failed
    call, told "not yet" by ZeroSSL on verify, waiting for an approval email or its issuer."""
    email_wait = reason == OrderReason.WAITING_FOR_ISSUANCE and by_email
    return retry or verify or email_wait or reason == OrderReason.WAITING_FOR_ISSUER


def order_view(obj: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """What :func:`decide_certificate_request` reads of a cached order, from the raw object
    (nothing parsed): for one request, orders with equal views yield equal decisions. The
    first item is the kind: ``absent``, ``finished``, ``attention`` or ``working``."""
    if obj is None:
        return ("absent",)
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ready = cond.find(status.get("conditions"), cond.READY) or {}
    reason = ready.get("reason")
    owner = (spec.get("certificateRequestRef") or {}).get("uid")
    issued_with_chain = reason == OrderReason.ISSUED and status.get("certificate")
    if issued_with_chain or reason in (OrderReason.FAILED, OrderReason.CANCELLED):
        issued = (status.get("certificate"), status.get("certificateID"))
        return ("finished", owner, reason, ready.get("message"), *issued)
    attention = _needs_attention(  # as OrderStatus.from_dict reads a backoff: by its time
        reason,
        retry=bool((status.get("retry") or {}).get("notBefore")),
        verify=bool((status.get("verify") or {}).get("nextTime")),
        by_email=spec.get("validationMethod") == ValidationMethod.EMAIL.value,
    )
    if attention:
        return ("attention", owner, reason, ready.get("status"), ready.get("message"))
    return ("working", owner, tuple(spec.get("domains") or ()))


def _progress(request: CertificateRequest, order: Order, now: datetime) -> RequestDecision:
    """An order at work: its Ready condition mirrored as Pending when it needs a person's
    attention; routine work writes nothing but the "working" message over a Ready condition
    the request already shows."""
    status = order.status
    if _needs_attention(
        status.ready_reason,
        retry=status.retry is not None,
        verify=status.verify is not None,
        by_email=order.spec is not None and order.spec.validation_method is ValidationMethod.EMAIL,
    ):
        message = cond.message_order_progress(order.name, status.ready)
        return _pending(request, "OrderInProgress", message, now)
    domains = order.spec.domains if order.spec is not None else ()
    return _working(request, order.name, domains, now)


def _working(
    request: CertificateRequest, order_name: str, domains: Sequence[str], now: datetime
) -> RequestDecision:
    """Routine work: nothing, or the "working" Pending (no Event) over a Ready condition the
    request shows, which no longer holds."""
    if cond.find(request.conditions, cond.READY) is None:
        return NOTHING
    message = cond.message_order_working(order_name, domains)
    return Decision(_pending(request, "OrderInProgress", message, now).status)


def request_finished(conditions: cond.Conditions) -> bool:
    """Step 3's terminal states (Ready=True, Ready=False/Failed or /Denied, InvalidRequest=True):
    from one of them :func:`decide_certificate_request` decides nothing, whatever the request's
    spec, issuer or order, so it reads no more of the request than its conditions."""
    if cond.is_true(conditions, cond.INVALID_REQUEST):
        return True
    ready = cond.find(conditions, cond.READY)
    if ready is None:
        return False
    if ready.get("status") == Status.TRUE:
        return True
    return ready.get("status") == Status.FALSE and ready.get("reason") in (
        RequestReason.FAILED,
        RequestReason.DENIED,
    )


def _message(patch: Mapping[str, Any]) -> str:
    return str(patch["conditions"][0]["message"])


def _pending(
    request: CertificateRequest, event_reason: str, message: str, now: datetime
) -> RequestDecision:
    """Pending with ``message``; an Event only when entering Pending; nothing if unchanged."""
    ready = cond.find(request.conditions, cond.READY)
    was_pending = ready is not None and ready.get("reason") == RequestReason.PENDING
    if was_pending and ready is not None and ready.get("message") == message:
        return NOTHING
    events = () if was_pending else (normal(event_reason, message),)
    return Decision(cond.request_pending(request.conditions, message, now), events)


def _failed(
    request: CertificateRequest, event_reason: str, message: str, now: datetime
) -> RequestDecision:
    patch = cond.request_failed(request.conditions, request.failure_time, message, now)
    return Decision(patch, (warning(event_reason, message),))


def _finished(request: CertificateRequest, order: Order, now: datetime) -> RequestDecision | None:
    """Issued or Failed from a finished order; None while the order is still working."""
    status = order.status
    reason = status.ready_reason
    if reason == OrderReason.ISSUED and status.certificate:
        csr_pem = request.csr_pem()
        if csr_pem is None or not leaf_matches_csr(status.certificate, csr_pem):
            return _failed(
                request, "CertificateMismatch", cond.message_chain_mismatch(order.name), now
            )
        patch = cond.request_issued(
            request.conditions, status.certificate, status.certificate_id or "unknown", now
        )
        return Decision(patch, (normal("Issued", _message(patch)),))
    if reason in (OrderReason.FAILED, OrderReason.CANCELLED):
        return _failed(
            request, "OrderFailed", cond.message_order_failed(order.name, status.ready), now
        )
    return None


def _create_order(
    request: CertificateRequest, ref: IssuerRef, spec: IssuerSpec, now: datetime
) -> RequestDecision:
    try:
        csr = check_request(request)
    except PermanentError as exc:
        return _failed(request, exc.reason, exc.message, now)
    plan = plan_validation(csr.domains, request.labels, spec.solvers)
    if isinstance(plan, NoSolver):
        return _pending(request, "NoSolver", cond.message_no_solver(plan.message), now)
    manifest = order_manifest(
        namespace=request.namespace,
        request_name=request.name,
        request_uid=request.uid,
        issuer=ref,
        request=request.request,
        domains=csr.domains,
        validity_days=spec.validity_days,
        strict_domains=spec.strict_domains,
        csr_md5=csr.hashes.md5,
        csr_sha256=csr.hashes.sha256,
        choices=plan.choices,
    )
    working = _working(request, request.name, csr.domains, now)
    return Decision(working.status, (), (EnsureOrder(manifest),))
