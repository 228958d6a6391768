"""The order reconciler: runs the order loop (:mod:`.order_loop`: decide_order, act, fold,
with the write-ahead rules) against Kubernetes, ZeroSSL (:mod:`.order_zerossl`) and the
solvers (:mod:`.order_solvers`), and declares what wakes an order (:func:`order_watches`).

Invariants:
- The loop's write-ahead and deferral rules hold (see :mod:`.order_loop`): an accepted
  validation may wait in memory (:class:`.DeferredStatuses`, this term's, dropped with the
  order) for the certificate's write. Writes replace the status whole,
  conditional on the resourceVersion last read or written: a conflict ends the reconcile with
  Retry (it is decided again from a newer cache); a vanished order ends it.
- A decision's Events are recorded once the status they describe is written.
- Read your writes: an order is never decided from a cache older than this reconciler's own
  last write of it; the informer event of that write wakes the order again.
- An order owns only what it created or can prove is its own: per CSR one order at a time
  searches, adopts or creates, what it obtains is claimed before that ends, and a search
  passes over certificates other orders own (CertificateOwners). Orders sharing a CSR take
  turns for HTTP validation (HttpTurns, a fact of the decision): a holder's accepted
  validation is written, not deferred, once another order waits for the turn (an order that
  comes to wait hurries a deferred one), so the next order publishes its file only after
  every replica's cache shows the previous one accepted (the solver serves the file ZeroSSL
  is validating).
- ZeroSSL errors, unusable API keys and solver faults become outcomes, never exceptions. A
  solver that cannot work as configured (credentials refused, zone or API missing, invalid
  spec) waits long with a Warning Event, never fails the order: fixing the spec or Secret is
  enough. Anything else propagates to the worker, which retries with backoff, after writing
  what the reconcile's earlier actions did.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, assert_never

from controller.clock import Clock
from controller.config import Settings
from controller.issuer.accounts import ZeroSSLAccounts
from controller.issuer.actions import (
    AddFinalizer,
    AdoptOrCreate,
    AwaitIssuance,
    CancelAtZeroSSL,
    Cleanup,
    DeleteOrder,
    Download,
    FlagIssuer,
    OrderAction,
    Outcome,
    Present,
    RemoveFinalizer,
    ResendEmail,
    Verify,
    WaitPropagation,
)
from controller.issuer.api import ORDER_FINALIZER, TRACEPARENT_ANNOTATION, ZEROSSL_ORDERS
from controller.issuer.conditions import TERMINAL_ORDER_REASONS
from controller.issuer.controllers.caches import BY_ISSUER, BY_SECRET, Caches, issuer_key_of
from controller.issuer.controllers.deferred import DeferredStatuses
from controller.issuer.controllers.drafts import DraftSearches
from controller.issuer.controllers.fresh import FreshOrders
from controller.issuer.controllers.issuers import IssuerReconciler
from controller.issuer.controllers.order_loop import OrderLoop, OrderRun, StopReconcile
from controller.issuer.controllers.order_solvers import SolverActs
from controller.issuer.controllers.order_zerossl import SERVED_METHODS, ZeroSSLActs
from controller.issuer.controllers.owners import CertificateOwners
from controller.issuer.controllers.poller import IssuancePoller
from controller.issuer.controllers.turns import HttpTurns
from controller.issuer.controllers.watches import OwnWrites, Watch
from controller.issuer.controllers.writes import record_events, replace_status
from controller.issuer.decide_order import OrderFacts
from controller.issuer.decision import Event
from controller.issuer.order_steps import OrderPolicy, remote_status
from controller.issuer.orders import Order
from controller.issuer.secrets import SecretCache
from controller.kube.client import KubeClient
from controller.kube.errors import Conflict, NotFound
from controller.kube.events import EventRecorder
from controller.kube.informer import CachedObject
from controller.kube.worker import DONE, Result, Retry
from controller.observability import tracing
from controller.zerossl.csrhashes import CsrHashes
from controller.zerossl.models import Certificate, CertificateStatus

log = logging.getLogger(__name__)

ACTION = "Issue"


def order_watches(caches: Caches, wake: Callable[[str], None], writes: OwnWrites) -> list[Watch]:
    """What wakes an order: its own changes, but for the quiet echoes of the order reconciler's
    own writes (``writes``); the deletion of its request (same key: the order then deletes itself;
    nothing else would when the request was deleted with ``--cascade=orphan``); a change of
    its issuer, or of a Secret its solvers read."""

    def by_issuer(obj: CachedObject) -> None:
        for order in caches.orders.store.index_keys(BY_ISSUER, issuer_key_of(obj)):
            wake(order)

    def by_secret(obj: CachedObject) -> None:
        for order in caches.orders.store.index_keys(BY_SECRET, obj.key):
            wake(order)

    return [
        Watch(caches.orders, lambda obj: wake(obj.key), writes=writes),
        Watch(caches.requests, lambda obj: wake(obj.key), changes=False, resync=False),
        Watch(caches.issuers, by_issuer),
        Watch(caches.cluster_issuers, by_issuer),
        Watch(caches.secrets, by_secret, resync=False),
    ]


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
        wake: Callable[[str], None],
        writes: OwnWrites,
    ) -> None:
        """One per leadership term; ``wake(key)`` enqueues an order at once; ``writes``: the
        replica's record of this reconciler's writes (see order_watches), cleared per term."""
        self._kube = kube
        self._written = writes
        self._fresh = fresh
        self._drafts = drafts
        self._owners = CertificateOwners(caches.certificate_owners)
        self._turns = HttpTurns(caches.validating_over_http, wake)
        self._caches = caches
        self._accounts = accounts
        self._recorder = recorder
        self._issuers = issuers
        self._poller = poller
        self._clock = clock
        self._zerossl = ZeroSSLActs(
            caches,
            accounts=accounts,
            poller=poller,
            fresh=fresh,
            drafts=drafts,
            owners=self._owners,
            clock=clock,
        )
        self._solvers = SolverActs(
            kube,
            secrets=secrets,
            settings=settings,
            policy=policy,
            warn=lambda obj, event: self.record_events(obj, [event]),
        )
        self._deferred = DeferredStatuses(policy.defer_max, clock, wake)
        self._loop = OrderLoop(self, clock, policy, self._deferred)

    def close(self) -> None:
        """The term ended: what it deferred goes (a new leader verifies again)."""
        self._deferred.close()

    async def reconcile(self, key: str) -> Result:
        await self._fresh.settled(key)  # its watch event may overtake the create's answer
        obj = self._caches.orders.store.get(key)
        if obj is None:
            self._written.forget(key)
            self._fresh.forget(key)
            self._drafts.forget(key)
            self._owners.forget(key)
            self._turns.forget(key)
            self._deferred.forget(key)
            return DONE
        if not self._written.caught_up(key, obj["metadata"].get("resourceVersion")):
            return DONE  # the write's own event wakes it
        run = self._loop.resume(key, obj)  # from its deferred status, if it still applies
        order = run.order
        facts = self.facts(order)  # before unwatch drops what the poller observed
        cert_id = order.status.certificate_id
        if cert_id and (order.deleting or order.status.ready_reason in TERMINAL_ORDER_REASONS):
            self._poller.unwatch(cert_id)
        with tracing.start_reconcile_span(
            "reconcile.order", _traceparent(order), _span(key, order)
        ):
            result = await self._loop.run(run, facts)
        if run.echo_wakes:
            self._written.wake_on_echo(key)
        return result

    # --- the loop's world: facts ----------------------------------------------------------------

    def facts(self, order: Order) -> OrderFacts:
        ref = order.issuer_ref
        cert_id = order.status.certificate_id
        key = f"{order.namespace}/{order.name}"
        remote = self._poller.observed(cert_id) if cert_id else None
        return OrderFacts(
            issuer=self._caches.issuer(ref) if ref is not None else None,
            remote=remote,
            request_gone=self._request_gone(order),
            fresh=self._fresh.is_fresh(key, order.uid),
            http_turn=self._http_turn(key, order, remote),
            account_known=order.deleting
            and ref is not None
            and self._accounts.last_client(ref) is not None,
        )

    def _http_turn(self, key: str, order: Order, remote: Certificate | None) -> str | None:
        """The order holding the HTTP validation file of this order's CSR, if another one;
        this order takes the turn if it wants it and it is free (see HttpTurns)."""
        spec = order.spec
        if spec is None:
            return None
        wants = (
            spec.validation_method in SERVED_METHODS
            and order.status.certificate_id is not None
            and not order.deleting
            and order.status.ready_reason not in TERMINAL_ORDER_REASONS
            and remote_status(order, remote) is CertificateStatus.DRAFT
        )
        file_name = CsrHashes(spec.csr_md5, spec.csr_sha256).file_name
        holder = self._turns.turn(file_name, key, wants=wants)
        if holder is not None:
            self._deferred.hurry(holder)  # its accepted validation, if deferred, is written now
        return holder

    def _request_gone(self, order: Order) -> bool:
        """The owning CertificateRequest (name and uid) is absent from the synced cache."""
        spec = order.spec
        if spec is None or not self._caches.requests.has_synced():
            return False
        request = self._caches.requests.store.get_cached(f"{order.namespace}/{spec.request_name}")
        return request is None or request.uid != spec.request_uid

    # --- the loop's world: actions -------------------------------------------------------------

    async def act(self, run: OrderRun, action: OrderAction) -> Outcome | None:
        """Runs one action; its outcome, or None for actions that report nothing."""
        match action:
            case AddFinalizer() | RemoveFinalizer():
                await self._set_finalizer(run, present=isinstance(action, AddFinalizer))
            case DeleteOrder(reason):
                await self._delete(run, reason)
            case FlagIssuer(ref, reason, message):
                self._issuers.flag(ref, reason, message)
            case AwaitIssuance():
                return await self._zerossl.await_issuance(run, action)
            case Present() | Cleanup() | WaitPropagation():
                return await self._solvers.solve(run, action)
            case AdoptOrCreate() | Verify() | ResendEmail() | Download() | CancelAtZeroSSL():
                return await self._zerossl.call(run, action)
            case _:
                assert_never(action)
        return None

    # --- the loop's world: Kubernetes ----------------------------------------------------------

    async def write_status(self, run: OrderRun) -> dict[str, Any]:
        return await self._write(
            run, replace_status(self._kube, ZEROSSL_ORDERS, run.obj, run.obj["status"])
        )

    def others_wait_on(self, run: OrderRun) -> bool:
        spec = run.order.spec
        if spec is None or spec.validation_method not in SERVED_METHODS:
            return False
        return self._turns.waiting(CsrHashes(spec.csr_md5, spec.csr_sha256).file_name)

    def record_events(self, obj: dict[str, Any], events: list[Event]) -> None:
        record_events(self._recorder, obj, events, ACTION)

    async def _write(self, run: OrderRun, write: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        """The written object; a vanished order ends the reconcile, a conflict retries it."""
        try:
            written = await write
        except NotFound:
            raise StopReconcile(DONE) from None
        except Conflict as error:
            raise StopReconcile(Retry(f"order write conflicted: {error.message}")) from None
        # The loop goes on from ``written``: its event wakes nothing, unless the run ends
        # needing it (OrderRun.echo_wakes).
        self._written.wrote(run.key, written["metadata"].get("resourceVersion"), quiet=True)
        return written

    async def _set_finalizer(self, run: OrderRun, *, present: bool) -> None:
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

    async def _delete(self, run: OrderRun, reason: str) -> None:
        """Deletes this order (this uid only); its finalizer then runs the cleanup."""
        meta = run.obj["metadata"]
        log.info("deleting order %s: %s", run.key, reason)
        try:
            await self._kube.delete(
                ZEROSSL_ORDERS, meta["name"], meta["namespace"], preconditions={"uid": meta["uid"]}
            )
        except (NotFound, Conflict):
            return  # already gone, or replaced by a newer order of the same name


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
