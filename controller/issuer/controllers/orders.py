"""The order reconciler: decide_order, then carry the decision out against Kubernetes, ZeroSSL
and the solvers, folding each action's outcome into the status and deciding again, until the
order has to wait (for ZeroSSL, the poller, a backoff, a watch event).

Invariants:
- Write-ahead only where a crash needs it: the status is written before an action that
  ``needs_write_ahead`` (the create-attempt marker before AdoptOrCreate; ``presented`` and the
  validation records before Present, so cleanup finds them and every replica's solver serves
  them) and before metadata actions; every other outcome is folded into the status in memory
  and written once, when the reconcile ends. A crash loses only outcomes that are safe to
  redo (verify answers 2830 and is read back, downloads and cleanups are idempotent). Writes
  replace the status whole, conditional on the resourceVersion last read or written: a
  conflict ends the reconcile with Retry (it is decided again from a newer cache); a vanished
  order ends it. An action that failed ends it once its outcome is written.
- A decision's Events are recorded once the status they describe is written.
- Read your writes: an order is never decided from a cache older than this reconciler's own
  last write of it; the informer event of that write wakes the order again.
- ZeroSSL errors, unusable API keys and solver faults become outcomes, never exceptions. A
  solver that cannot work as configured (credentials refused, zone or API missing, invalid
  spec) waits long with a Warning Event, never fails the order: fixing the spec or Secret is
  enough. Anything else propagates to the worker, which retries with backoff, after writing
  what the reconcile's earlier actions did.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, assert_never

from controller.clock import Clock
from controller.config import Settings
from controller.issuer.accounts import ZeroSSLAccounts
from controller.issuer.actions import (
    METADATA_ACTIONS,
    ActionFailed,
    AddFinalizer,
    AdoptOrCreate,
    AwaitIssuance,
    CancelAtZeroSSL,
    CancelledAtZeroSSL,
    CertificateObtained,
    CleanedUp,
    Cleanup,
    DeleteOrder,
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
    RemoveFinalizer,
    ResendEmail,
    Verified,
    Verify,
    WaitPropagation,
    needs_write_ahead,
)
from controller.issuer.api import (
    ORDER_FINALIZER,
    TRACEPARENT_ANNOTATION,
    ZEROSSL_ORDERS,
    secret_namespace,
)
from controller.issuer.conditions import TERMINAL_ORDER_REASONS, IssuerReason
from controller.issuer.controllers.caches import Caches
from controller.issuer.controllers.drafts import DraftSearches
from controller.issuer.controllers.fresh import FreshOrders
from controller.issuer.controllers.issuers import IssuerReconciler
from controller.issuer.controllers.poller import IssuancePoller
from controller.issuer.controllers.writes import (
    OwnWrites,
    caught_up,
    record_events,
    replace_status,
)
from controller.issuer.decide_order import OrderFacts, decide_order
from controller.issuer.decision import Event, warning
from controller.issuer.errors import IssuerError, PendingError, camel_reason
from controller.issuer.order_outcomes import record_outcome
from controller.issuer.order_steps import OrderDecision, OrderPolicy
from controller.issuer.orders import Order
from controller.issuer.secrets import SecretCache
from controller.issuer.solvers.dns import (
    CNAMERecord,
    DNSProvider,
    DNSProviderError,
    InvalidSolverSpec,
    Propagation,
    PropagationTimeout,
    ProviderEndpoints,
    RateLimited,
    build_dns_provider,
    provider_field,
    wait_visible,
)
from controller.issuer.solvers.http import HttpRouting, RoutingError
from controller.issuer.spec import Method
from controller.kube.client import KubeClient
from controller.kube.errors import Conflict, NotFound
from controller.kube.events import EventRecorder
from controller.kube.worker import DONE, RequeueAfter, Result, Retry
from controller.observability import tracing
from controller.zerossl.client import ZeroSSLClient
from controller.zerossl.csrhashes import CsrHashes
from controller.zerossl.errors import ZeroSSLError
from controller.zerossl.models import CertificateStatus, ValidationMethod

log = logging.getLogger(__name__)

ACTION = "Issue"
MISCONFIGURED_WAIT = 300.0  # a solver that needs a fix to its spec or Secret is retried this often
NOT_ELIGIBLE = "certificate_not_eligible"  # ZeroSSL 2830: e.g. verify of a non-draft

ZeroSSLAction = AdoptOrCreate | Verify | ResendEmail | Download | CancelAtZeroSSL
SolverAction = Present | Cleanup | WaitPropagation


class _Stop(Exception):
    """Ends the reconcile early with ``result``."""

    def __init__(self, result: Result) -> None:
        super().__init__(result)
        self.result = result


MAX_STEPS = 12  # decide-act rounds per reconcile; a whole issuance takes about 6
SERVED_METHODS = (ValidationMethod.HTTP_CSR_HASH, ValidationMethod.HTTPS_CSR_HASH)
CACHE_WAIT = 2.0  # seconds a verify waits for the cache to hold the files it will serve


@dataclass
class _Run:
    """One reconcile's progress: the object with every outcome so far folded in, whether its
    status differs from the last one written, the Events still to record once it is, and the
    earliest requeue asked."""

    key: str
    order: Order  # as first decided from; its spec and identity never change
    obj: dict[str, Any]
    wait: float | None = None
    unwritten: bool = False
    events: list[Event] = field(default_factory=list)

    def fold(self, decision: OrderDecision) -> None:
        if decision.status is not None:
            self.obj = {**self.obj, "status": decision.status}
            self.unwritten = True
        self.events.extend(decision.events)
        self.requeue(decision.requeue_after)

    def requeue(self, seconds: float | None) -> None:
        if seconds is not None and (self.wait is None or seconds < self.wait):
            self.wait = seconds

    def result(self) -> Result:
        return RequeueAfter(self.wait) if self.wait is not None else DONE


class OrderReconciler:
    def __init__(
        self,
        kube: KubeClient,
        caches: Caches,
        *,
        accounts: ZeroSSLAccounts,
        secrets: SecretCache,
        recorder: EventRecorder,
        issuers: IssuerReconciler,
        poller: IssuancePoller,
        settings: Settings,
        clock: Clock,
        policy: OrderPolicy,
        fresh: FreshOrders,
        drafts: DraftSearches,
    ) -> None:
        self._kube = kube
        self._fresh = fresh
        self._drafts = drafts
        self._caches = caches
        self._accounts = accounts
        self._secrets = secrets
        self._recorder = recorder
        self._issuers = issuers
        self._poller = poller
        self._settings = settings
        self._clock = clock
        self._policy = policy
        self._routing = HttpRouting(kube, namespace=settings.namespace)
        self._endpoints = ProviderEndpoints(settings.cloudflare_api_url, settings.route53_api_url)
        self._written = OwnWrites()

    async def reconcile(self, key: str) -> Result:
        await self._fresh.settled(key)  # its watch event may overtake the create's answer
        obj = self._caches.orders.store.get(key)
        if obj is None:
            self._written.forget(key)
            self._fresh.forget(key)
            self._drafts.forget(key)
            return DONE
        if not self._written.caught_up(key, obj):
            return DONE
        order = Order.from_object(obj)
        facts = self._facts(order)
        cert_id = order.status.certificate_id
        if cert_id and (order.deleting or order.status.ready_reason in TERMINAL_ORDER_REASONS):
            self._poller.unwatch(cert_id)
        with tracing.start_reconcile_span(
            "reconcile.order", _traceparent(order), _span(key, order)
        ):
            run = _Run(key, order, obj)
            try:
                await self._advance(
                    run, decide_order(order, facts, self._clock.now(), self._policy)
                )
            except _Stop as stop:
                return stop.result
            return run.result()

    # --- facts -----------------------------------------------------------------------------------

    def _facts(self, order: Order) -> OrderFacts:
        ref = order.issuer_ref
        cert_id = order.status.certificate_id
        return OrderFacts(
            issuer=self._caches.issuer(ref) if ref is not None else None,
            remote=self._poller.observed(cert_id) if cert_id else None,
            request_gone=self._request_gone(order),
            fresh=self._fresh.is_fresh(f"{order.namespace}/{order.name}", order.uid),
        )

    def _request_gone(self, order: Order) -> bool:
        """The owning CertificateRequest (name and uid) is absent from the synced cache."""
        spec = order.spec
        if spec is None or not self._caches.requests.has_synced():
            return False
        request = self._caches.requests.store.get(f"{order.namespace}/{spec.request_name}")
        return request is None or request["metadata"].get("uid") != spec.request_uid

    # --- carrying out decisions ----------------------------------------------------------------

    async def _advance(self, run: _Run, decision: OrderDecision) -> None:
        """Carries out ``decision``, then decides again from the outcomes, until the order
        waits; writes what is unwritten at the end (also when an action raised)."""
        try:
            for _ in range(MAX_STEPS):
                run.fold(decision)
                if not decision.actions or not await self._perform(run, decision.actions):
                    break
                order = Order.from_object(run.obj)
                decision = decide_order(order, self._facts(order), self._clock.now(), self._policy)
        except _Stop:
            raise
        except Exception:
            with contextlib.suppress(Exception):
                await self._flush(run)  # keep what the earlier actions did; the worker retries
            raise
        await self._flush(run)

    async def _perform(self, run: _Run, actions: tuple[OrderAction, ...]) -> bool:
        """Runs ``actions`` in order, folding each outcome in. True when the order moved on
        and can be decided again at once; False when it has to wait (nothing came of the
        actions, one failed or asked for a requeue, or the object's metadata was written)."""
        if any(needs_write_ahead(action) for action in actions):
            await self._flush(run)
        moved_on, waits = False, False
        for action in actions:
            if isinstance(action, METADATA_ACTIONS):
                await self._flush(run)
                waits = True
            if isinstance(action, Verify) and action.method in SERVED_METHODS:
                await self._cache_holds(run)
            outcome = await self._act(run, action)
            if outcome is None:
                continue
            recorded = record_outcome(
                Order.from_object(run.obj), outcome, self._clock.now(), self._policy
            )
            run.fold(recorded)
            if recorded.actions:  # follow-ups of the outcome (flagging the issuer)
                await self._perform(run, recorded.actions)
            if isinstance(outcome, ActionFailed):
                return False
            moved_on = True
            waits = waits or recorded.requeue_after is not None
        return moved_on and not waits

    async def _cache_holds(self, run: _Run) -> None:
        """Waits until this replica's cache holds the last status written: the solver server
        answers ZeroSSL's fetch of a validation file from that cache."""
        version = str(run.obj["metadata"].get("resourceVersion") or "")
        store = self._caches.orders.store
        if not await caught_up(store, run.key, version, self._clock, timeout=CACHE_WAIT):
            log.info("order %s: the cache lags its last write; asking ZeroSSL anyway", run.key)

    async def _flush(self, run: _Run) -> None:
        """Writes the status if it changed since the last write, then records the Events."""
        if run.unwritten:
            status = run.obj["status"]
            run.obj = await self._write(
                run, replace_status(self._kube, ZEROSSL_ORDERS, run.obj, status)
            )
            run.unwritten = False
        record_events(self._recorder, run.obj, run.events, ACTION)
        run.events.clear()

    async def _write(self, run: _Run, write: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        """The written object; a vanished order ends the reconcile, a conflict retries it."""
        try:
            written = await write
        except NotFound:
            raise _Stop(DONE) from None
        except Conflict as error:
            raise _Stop(Retry(f"order write conflicted: {error.message}")) from None
        self._written.wrote(run.key, written)
        return written

    async def _act(self, run: _Run, action: OrderAction) -> Outcome | None:
        """Runs one action; its outcome, or None for actions that report nothing."""
        match action:
            case AddFinalizer() | RemoveFinalizer():
                await self._set_finalizer(run, present=isinstance(action, AddFinalizer))
            case DeleteOrder(reason):
                await self._delete(run, reason)
            case FlagIssuer(ref, reason, message):
                self._issuers.flag(ref, reason, message)
            case AwaitIssuance(cert_id):
                try:
                    client = await self._client(run)
                except (IssuerError, PendingError) as error:
                    return ActionFailed(action, error)
                self._poller.watch(client, cert_id, run.key)
            case Present() | Cleanup() | WaitPropagation():
                return await self._solve(run, action)
            case AdoptOrCreate() | Verify() | ResendEmail() | Download() | CancelAtZeroSSL():
                return await self._call_zerossl(run, action)
            case _:
                assert_never(action)
        return None

    # --- Kubernetes ----------------------------------------------------------------------------

    async def _set_finalizer(self, run: _Run, *, present: bool) -> None:
        """A merge patch of the finalizers, conditional on the resourceVersion decided from."""
        meta = run.obj["metadata"]
        others = [f for f in meta.get("finalizers") or () if f != ORDER_FINALIZER]
        patch = {
            "metadata": {
                "finalizers": [*others, ORDER_FINALIZER] if present else others,
                "resourceVersion": meta["resourceVersion"],
            }
        }
        run.obj = await self._write(
            run, self._kube.patch(ZEROSSL_ORDERS, meta["name"], patch, namespace=meta["namespace"])
        )

    async def _delete(self, run: _Run, reason: str) -> None:
        """Deletes this order (this uid only); its finalizer then runs the cleanup."""
        meta = run.obj["metadata"]
        log.info("deleting order %s: %s", run.key, reason)
        try:
            await self._kube.delete(
                ZEROSSL_ORDERS, meta["name"], meta["namespace"], preconditions={"uid": meta["uid"]}
            )
        except (NotFound, Conflict):
            return  # already gone, or replaced by a newer order of the same name

    # --- ZeroSSL -------------------------------------------------------------------------------

    async def _client(self, run: _Run) -> ZeroSSLClient:
        """The issuer's ZeroSSL client; IssuerError if its key cannot be used."""
        ref = run.order.issuer_ref
        issuer = self._caches.issuer(ref) if ref is not None else None
        if ref is None or issuer is None:
            raise PendingError(f"the order's issuer {ref} does not exist")
        if issuer.spec is None:
            raise IssuerError(IssuerReason.INVALID_SPEC, issuer.spec_error or "invalid spec")
        return await self._accounts.client(ref, issuer.spec)

    async def _call_zerossl(self, run: _Run, action: ZeroSSLAction) -> Outcome:
        if isinstance(action, Download) and (chain := self._poller.bundle(action.certificate_id)):
            return Downloaded(chain)
        try:
            client = await self._client(run)
            match action:
                case AdoptOrCreate():
                    self._fresh.forget(run.key)  # from here on, a certificate may exist
                    return await _adopt_or_create(client, self._drafts, action, run.key)
                case Verify():
                    return await _verify(client, action)
                case ResendEmail(cert_id, token):
                    await client.resend_verification_email(cert_id)
                    return EmailResent(token)
                case Download(cert_id):
                    return Downloaded((await client.download(cert_id)).chain_pem())
                case CancelAtZeroSSL(cert_id):
                    await client.cancel(cert_id)
                    return CancelledAtZeroSSL()
        except (ZeroSSLError, IssuerError, PendingError) as error:
            return ActionFailed(action, error)

    # --- solvers -------------------------------------------------------------------------------

    async def _solve(self, run: _Run, action: SolverAction) -> Outcome:
        try:
            if isinstance(action, WaitPropagation):
                return await self._propagated(action)
            await self._publish(run, action)
        except (DNSProviderError, RoutingError) as error:
            return ActionFailed(action, self._solver_intent(run, action, error))
        return Presented(action.domain) if isinstance(action, Present) else CleanedUp(action.domain)

    async def _publish(self, run: _Run, action: Present | Cleanup) -> None:
        """Present or clean up one domain's validation (nothing to publish for email)."""
        present = isinstance(action, Present)
        if action.method is Method.HTTP:
            if action.http is None:
                raise RoutingError(
                    "invalid_spec",
                    f"no validation file recorded for {action.domain}",
                    retryable=False,
                )
            route = self._routing.present if present else self._routing.cleanup
            await route(run.obj, action.domain, action.http.path, action.config)
        elif action.method is Method.DNS:
            if action.cname is None:
                raise InvalidSolverSpec(f"no CNAME recorded for {action.domain}")
            record = CNAMERecord.from_zerossl(action.cname.name, action.cname.target)
            provider = self._dns_provider(run, action.config)
            await (provider.present(record) if present else provider.cleanup(record))

    def _dns_provider(self, run: _Run, config: Mapping[str, Any]) -> DNSProvider:
        ref = run.order.issuer_ref
        if ref is None:
            raise InvalidSolverSpec("the order names no issuer to read Secrets for")
        return build_dns_provider(
            config,
            namespace=secret_namespace(ref, self._settings.cluster_resource_namespace),
            secrets=self._secrets,
            owner=run.obj,
            kube=self._kube,
            timeout=self._settings.kube_timeout,
            endpoints=self._endpoints,
        )

    async def _propagated(self, action: WaitPropagation) -> Propagated:
        """Asks the resolvers once whether the CNAME is visible."""
        propagation = Propagation.from_spec(
            action.config,
            default_timeout=self._policy.propagation_timeout,
            default_resolvers=self._settings.dns_resolvers,
        )
        record = CNAMERecord.from_zerossl(action.cname.name, action.cname.target)
        try:
            await wait_visible(
                record,
                propagation.resolvers,
                timeout=0,
                interval=self._policy.propagation_interval,
                solver=provider_field(action.config),
            )
        except PropagationTimeout as error:
            return Propagated(action.domain, visible=False, detail=error.message)
        return Propagated(action.domain, visible=True)

    def _solver_intent(
        self, run: _Run, action: SolverAction, error: DNSProviderError | RoutingError
    ) -> PendingError:
        """Transient faults back off; a solver needing a fix waits long, with a Warning Event."""
        if error.retryable:
            retry_after = error.retry_after if isinstance(error, RateLimited) else None
            return PendingError(error.message, requeue_after=retry_after)
        reason = camel_reason(f"solver_{error.kind}", "SolverFailed")
        note = f"{action.domain}: {error.message}; fix the solver spec or its Secret"
        record_events(self._recorder, run.obj, [warning(reason, note)], ACTION)
        return PendingError(note, requeue_after=MISCONFIGURED_WAIT)


async def _adopt_or_create(
    client: ZeroSSLClient, drafts: DraftSearches, action: AdoptOrCreate, order_key: str
) -> Outcome:
    """Adopt the unfinished certificate created from this CSR (searching for it when asked,
    coalesced with the account's other searches), else create one if allowed."""
    if action.search_first:
        hashes = CsrHashes(action.csr_md5, action.csr_sha256)
        found = await drafts.find(client, action.domains[0], hashes, order_key)
        if found is not None:
            return CertificateObtained(found, adopted=True)
    if not action.allow_create:
        return NoDraftFound()
    drafts.attempting(order_key)  # from here on, this term may have made its draft
    created = await client.create_certificate(
        action.domains,
        action.csr_pem,
        validity_days=action.validity_days,
        strict_domains=action.strict_domains,
    )
    return CertificateObtained(created, adopted=False)


def _traceparent(order: Order) -> str | None:
    return order.status.trace_context.get("traceparent") or order.annotations.get(
        TRACEPARENT_ANNOTATION
    )


def _span(key: str, order: Order) -> dict[str, object]:
    request = f"{order.namespace}/{order.spec.request_name}" if order.spec else None
    issuer = str(order.issuer_ref) if order.issuer_ref else None
    return {
        tracing.ATTR_ORDER: key,
        tracing.ATTR_REQUEST: request,
        tracing.ATTR_ISSUER: issuer,
    }


async def _verify(client: ZeroSSLClient, action: Verify) -> Outcome:
    """Verify; "not eligible" after a lost answer or a failover means an earlier verify of
    this certificate took effect: read it once and carry on from where ZeroSSL is."""
    try:
        return Verified(
            await client.verify_domains(action.certificate_id, action.method, emails=action.emails)
        )
    except ZeroSSLError as error:
        if error.type != NOT_ELIGIBLE:
            raise
        current = await client.get_certificate(action.certificate_id)
        if current.status in (CertificateStatus.PENDING_VALIDATION, CertificateStatus.ISSUED):
            return Verified(current)
        raise
