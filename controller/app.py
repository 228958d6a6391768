"""The controller process: caches, probes and the HTTP solver on every replica; reconcilers,
the issuance poller and Events only on the Lease holder.

Invariants:
- Informers run on every replica (warm standby); handlers enqueue only while this replica
  leads, and becoming leader enqueues every cached object once, so nothing is missed.
- Leader work lives in one TaskGroup under the elector: losing the Lease cancels all of it at
  once and the process exits 1 (the kubelet restarts it); SIGTERM cancels it, waits for it to
  stop, then releases the Lease and exits 0.
- Readiness means every cache has synced; liveness fails when the event loop or the leader's
  renewals are stuck.
- The kube plumbing reports through the product's metric catalog, injected here
  (:data:`~controller.observability.metrics.KUBE_METRICS`): the clients built by :func:`_main`
  carry it to their informers; queues, Events, the elector and the workers get it below.
- Lease calls go through a client of their own: a backlog of controller requests in the shared
  client-side rate limiter can never delay a renewal past the renew deadline. The elector's
  watch on the Lease uses that client too (one long request, re-opened at most every few
  seconds: a fraction of its QPS).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
from collections.abc import Callable

import aiohttp

from controller.clock import Clock, SystemClock
from controller.config import Settings
from controller.issuer.accounts import ZeroSSLAccounts
from controller.issuer.controllers.caches import (
    BY_ISSUER,
    BY_SECRET,
    Caches,
    issuer_key,
    request_is_ours,
)
from controller.issuer.controllers.drafts import DraftSearches
from controller.issuer.controllers.fresh import FreshOrders
from controller.issuer.controllers.issuers import IssuerReconciler
from controller.issuer.controllers.orders import OrderReconciler
from controller.issuer.controllers.poller import IssuancePoller
from controller.issuer.controllers.requests import RequestReconciler
from controller.issuer.controllers.telemetry import CacheMetrics
from controller.issuer.decide_issuer import IssuerPolicy
from controller.issuer.issuers import Issuer
from controller.issuer.order_steps import OrderPolicy
from controller.issuer.secrets import SecretCache
from controller.kube.client import KubeClient
from controller.kube.events import EventRecorder
from controller.kube.informer import CachedObject, DeletedFinalStateUnknown, HandlerFuncs
from controller.kube.leaderelection import LeaderElector, LeadershipLost
from controller.kube.worker import WorkerPool
from controller.kube.workqueue import RateLimitingQueue
from controller.observability.logging import configure_logging
from controller.observability.metrics import KUBE_METRICS
from controller.observability.tracing import configure_tracing
from controller.server import Server

log = logging.getLogger(__name__)
REPORTING_CONTROLLER = "zerossl.issuer.dev/zerossl-issuer"
LEASE_QPS = 10
ENQUEUE_BATCH = 256  # objects queued between yields to the event loop on becoming leader
Obj = CachedObject


def _queue(name: str) -> RateLimitingQueue[str]:
    return RateLimitingQueue(name=name, metrics=KUBE_METRICS)


def _obj(item: Obj | DeletedFinalStateUnknown) -> Obj:
    return item.obj if isinstance(item, DeletedFinalStateUnknown) else item


class Controller:
    """Everything one replica runs, wired together; :meth:`run` until cancelled."""

    def __init__(
        self,
        settings: Settings,
        kube: KubeClient,
        clock: Clock | None = None,
        *,
        lease_client: KubeClient | None = None,
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.clock = clock or SystemClock()
        self.caches = Caches(kube, settings.cluster_resource_namespace)
        self.request_queue: RateLimitingQueue[str] = _queue("certificaterequests")
        self.order_queue: RateLimitingQueue[str] = _queue("zerosslorders")
        self.issuer_queue: RateLimitingQueue[str] = _queue("zerosslissuers")
        self.recorder = EventRecorder(
            kube,
            controller=REPORTING_CONTROLLER,
            instance=settings.identity[:128],
            clock=self.clock,
            metrics=KUBE_METRICS,
        )
        self.secrets = SecretCache(kube, self.caches.secrets.store, self.caches.secrets.has_synced)
        lease_api = lease_client or kube
        self.elector = (
            LeaderElector(
                lease_api,
                settings.namespace,
                settings.lease_name,
                settings.identity,
                lease_duration=settings.lease_duration,
                renew_deadline=settings.renew_deadline,
                retry_period=settings.retry_period,
                clock=self.clock,
                watch=lease_api,
                metrics=KUBE_METRICS,
            )
            if settings.leader_elect
            else None
        )
        self.leading = False
        self._wire_handlers()

    # --- handlers: cache events -> work queues --------------------------------------------------

    def _wire_handlers(self) -> None:
        caches = self.caches
        caches.requests.add_handler(self._handlers(self._on_request))
        caches.requests.add_handler(HandlerFuncs(delete=lambda item: self._on_gone(_obj(item))))
        caches.orders.add_handler(self._handlers(self._on_order))
        for informer in (caches.issuers, caches.cluster_issuers):
            informer.add_handler(self._handlers(self._on_issuer))
        caches.secrets.add_handler(self._handlers(self._on_secret))

    def _handlers(self, enqueue: Callable[[Obj], None]) -> HandlerFuncs:
        def changed(old: Obj, new: Obj) -> None:
            if old.resource_version != new.resource_version:
                enqueue(new)

        return HandlerFuncs(add=enqueue, update=changed, delete=lambda item: enqueue(_obj(item)))

    def _on_request(self, obj: Obj) -> None:
        if self.leading and request_is_ours(obj.decode()):
            self.request_queue.add(obj.key)

    def _on_gone(self, request: Obj) -> None:
        """A deleted request wakes its order (same key), which then deletes itself; nothing
        else would when the request was deleted with ``--cascade=orphan``."""
        if self.leading:
            self.order_queue.add(request.key)

    def _on_order(self, obj: Obj) -> None:
        if self.leading:
            key = obj.key
            self.order_queue.add(key)
            self.request_queue.add(key)  # same name: the order mirrors into its request

    def _on_issuer(self, obj: Obj) -> None:
        if not self.leading:
            return
        ref = Issuer.from_object(obj.decode()).ref
        key = issuer_key(ref)
        self.issuer_queue.add(key)
        for request in self.caches.requests.store.index_keys(BY_ISSUER, key):
            self.request_queue.add(request)
        for order in self.caches.orders.store.index_keys(BY_ISSUER, key):
            self.order_queue.add(order)

    def _on_secret(self, obj: Obj) -> None:
        if not self.leading:
            return
        secret = obj.key
        for store in (self.caches.issuers.store, self.caches.cluster_issuers.store):
            for issuer in store.by_index(BY_SECRET, secret):
                self.issuer_queue.add(issuer_key(Issuer.from_object(issuer).ref))
        for order in self.caches.orders.store.index_keys(BY_SECRET, secret):
            self.order_queue.add(order)

    async def _enqueue_everything(self) -> None:
        """Queues every cached object once, yielding to the loop as it goes: with tens of
        thousands of cached objects, one synchronous pass would hold up Lease renewals."""
        passes = (
            (self.caches.requests.store, self._on_request),
            (self.caches.orders.store, self._on_order),
            (self.caches.issuers.store, self._on_issuer),
            (self.caches.cluster_issuers.store, self._on_issuer),
        )
        for store, enqueue in passes:
            for count, key in enumerate(store.list_keys(), 1):
                if (obj := store.get_cached(key)) is not None:
                    enqueue(obj)
                if count % ENQUEUE_BATCH == 0:
                    await asyncio.sleep(0)

    # --- lifetimes ------------------------------------------------------------------------------

    def healthy(self) -> bool:
        return self.elector.healthy() if self.elector is not None else True

    async def run(self) -> None:
        """Runs until cancelled; raises LeadershipLost when the Lease is lost."""
        timeout = aiohttp.ClientTimeout(total=self.settings.zerossl_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            accounts = ZeroSSLAccounts(self.settings, session, self.secrets)
            server = Server(
                self.settings,
                health={"leader-election": self.healthy},
                readiness={"caches": self.caches.synced},
                solver_lookup=self.caches.validation_file,
            )
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(server.run(), name="server")
                for informer in self.caches.informers:
                    tasks.create_task(informer.run(), name=f"informer-{informer.resource}")
                tasks.create_task(CacheMetrics(self.caches, self.clock).run(), name="metrics")
                tasks.create_task(self._elect(accounts), name="leader")

    async def _elect(self, accounts: ZeroSSLAccounts) -> None:
        async def lead() -> None:
            await self._lead(accounts)

        if self.elector is None:
            await lead()
        else:
            await self.elector.run(lead)

    async def _lead(self, accounts: ZeroSSLAccounts) -> None:
        settings = self.settings
        await asyncio.gather(*(i.wait_synced() for i in self.caches.informers))
        log.info("leading: starting reconcilers", extra={"identity": settings.identity})
        issuers = IssuerReconciler(
            self.kube,
            self.caches,
            accounts=accounts,
            recorder=self.recorder,
            queue=self.issuer_queue,
            clock=self.clock,
            policy=IssuerPolicy.from_settings(settings),
            rng=random.Random(),  # noqa: S311 (check-time jitter)
        )
        poller = IssuancePoller(self.order_queue, interval=settings.poll_interval, clock=self.clock)
        fresh = FreshOrders()  # this term's knowledge only: a new leader knows no order as fresh
        # The term's lost-draft searches, coalesced per account; a create the old leader sent is
        # answered within the ZeroSSL call timeout.
        drafts = DraftSearches(grace=settings.zerossl_timeout)
        orders = OrderReconciler(
            self.kube,
            self.caches,
            accounts=accounts,
            secrets=self.secrets,
            recorder=self.recorder,
            issuers=issuers,
            poller=poller,
            settings=settings,
            clock=self.clock,
            policy=OrderPolicy.from_settings(settings),
            fresh=fresh,
            drafts=drafts,
        )
        requests = RequestReconciler(self.kube, self.caches, self.recorder, self.clock, fresh)
        workers = settings.workers
        pools = (
            WorkerPool(
                "certificaterequests",
                self.request_queue,
                requests.reconcile,
                workers=workers,
                metrics=KUBE_METRICS,
            ),
            WorkerPool(
                "zerosslorders",
                self.order_queue,
                orders.reconcile,
                workers=workers,
                metrics=KUBE_METRICS,
            ),
            WorkerPool(
                "zerosslissuers",
                self.issuer_queue,
                issuers.reconcile,
                workers=max(1, workers // 4),
                metrics=KUBE_METRICS,
            ),
        )
        self.leading = True
        await self._enqueue_everything()
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.recorder.run(), name="events")
                tasks.create_task(poller.run(), name="poller")
                tasks.create_task(drafts.run(), name="draft-searches")
                for pool in pools:
                    tasks.create_task(pool.run(), name=f"workers-{pool.name}")
        finally:
            self.leading = False


async def _main(settings: Settings) -> int:
    kube = await KubeClient.connect(
        os.environ.get("KUBECONFIG"),
        qps=settings.kube_qps,
        burst=settings.kube_burst,
        timeout=settings.kube_timeout,
        metrics=KUBE_METRICS,
    )
    # Lease calls: a few per retry period, never queued behind controller traffic.
    lease_client = KubeClient.from_config(
        kube.config,
        qps=LEASE_QPS,
        burst=LEASE_QPS,
        timeout=settings.renew_deadline,
        metrics=KUBE_METRICS,
    )
    loop = asyncio.get_running_loop()
    async with kube, lease_client:
        controller = Controller(settings, kube, lease_client=lease_client)
        replica = asyncio.create_task(controller.run(), name="controller")
        stopping = asyncio.Event()

        def stop() -> None:
            stopping.set()
            replica.cancel()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop)
        try:
            await replica
        except asyncio.CancelledError:
            if not stopping.is_set():
                raise
            log.info("stopped")
        except BaseExceptionGroup as group:
            if group.subgroup(LeadershipLost) is None:
                raise
            log.error("lost the leader Lease; exiting so that no two replicas act at once")
            return 1
    return 0


def run(settings: Settings) -> int:
    """The ``zerossl-issuer run`` entry point; returns the process exit code."""
    logs = configure_logging(settings.log_level, settings.log_format)
    provider = configure_tracing("zerossl-issuer", environ=os.environ)
    try:
        return asyncio.run(_main(settings))
    finally:
        if provider is not None:
            with contextlib.suppress(Exception):
                provider.shutdown()
        logs.close()
