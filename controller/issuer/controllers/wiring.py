"""One replica's issuer controllers, wired in one place for the process (controller/app.py) and
the in-process tests: the caches, the work queues, the watches each reconciler declares (which
fill the queues), and the reconcilers the Lease holder runs for its term.

Invariants:
- Informers run on every replica (warm standby); watches enqueue only while this replica
  leads, and becoming leader enqueues every cached object once, so nothing is missed.
- Work that finishes a certificate takes the queues' first lane (:mod:`.lanes`).
- A term starts from synced caches. Its reconcilers, the batch poller, the lost-draft searches
  and the Event recorder's flushes live in one TaskGroup: cancelling the term stops all of
  them at once, and nothing a term knows (fresh orders, claims, HTTP turns, searches,
  deferred order statuses) outlives it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from controller.clock import Clock
from controller.config import Settings
from controller.issuer.accounts import ZeroSSLAccounts
from controller.issuer.controllers.caches import Caches
from controller.issuer.controllers.drafts import DraftSearches
from controller.issuer.controllers.fresh import FreshOrders
from controller.issuer.controllers.issuers import IssuerReconciler, issuer_watches
from controller.issuer.controllers.lanes import order_finished, order_started
from controller.issuer.controllers.orders import OrderReconciler, order_watches
from controller.issuer.controllers.poller import IssuancePoller
from controller.issuer.controllers.requests import RequestReconciler, request_watches
from controller.issuer.controllers.watches import OwnWrites, Watches
from controller.issuer.decide_issuer import IssuerPolicy
from controller.issuer.order_steps import OrderPolicy
from controller.issuer.secrets import SecretCache
from controller.kube.client import KubeClient
from controller.kube.events import EventRecorder
from controller.kube.worker import WorkerPool
from controller.kube.workqueue import RateLimitingQueue
from controller.observability.metrics import KUBE_METRICS

log = logging.getLogger(__name__)

REPORTING_CONTROLLER = "zerossl.issuer.dev/zerossl-issuer"


def _queue(name: str, urgent: Callable[[str], bool] | None = None) -> RateLimitingQueue[str]:
    """A work queue reporting through the product's metric catalog; ``urgent`` picks the
    items that take its first lane."""
    return RateLimitingQueue(name=name, metrics=KUBE_METRICS, urgent=urgent)


@dataclass(frozen=True, slots=True)
class Policies:
    """The reconcilers' timings."""

    orders: OrderPolicy
    issuers: IssuerPolicy

    @classmethod
    def from_settings(cls, settings: Settings) -> Policies:
        return cls(OrderPolicy.from_settings(settings), IssuerPolicy.from_settings(settings))


class IssuerControllers:
    """The caches, queues and watches of one replica; :meth:`lead` runs one leadership term."""

    def __init__(
        self,
        kube: KubeClient,
        settings: Settings,
        clock: Clock,
        *,
        policies: Policies | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """``rng`` jitters the issuers' check times (a seeded one makes them repeatable)."""
        self._kube = kube
        self._settings = settings
        self._clock = clock
        self._policies = policies or Policies.from_settings(settings)
        self._rng = rng or random.Random()  # noqa: S311 (check-time jitter)
        self.caches = Caches(kube, settings.cluster_resource_namespace)
        self.secrets = SecretCache(kube, self.caches.secrets.store, self.caches.secrets.has_synced)
        self.recorder = EventRecorder(
            kube,
            controller=REPORTING_CONTROLLER,
            instance=settings.identity[:128],
            clock=clock,
            metrics=KUBE_METRICS,
        )
        # Finished work first (lanes): what finishes a certificate goes ahead of what starts one.
        orders = self.caches.orders.store
        self.request_queue = _queue("certificaterequests", urgent=order_finished(orders))
        self.order_queue = _queue("zerosslorders", urgent=order_started(orders))
        self.issuer_queue = _queue("zerosslissuers")
        self.order_writes = OwnWrites()
        self.request_writes = OwnWrites()
        self.watches = Watches(
            [
                *request_watches(self.caches, self.request_queue.add, self.request_writes),
                *order_watches(self.caches, self.order_queue.add, self.order_writes),
                *issuer_watches(self.caches, self.issuer_queue.add),
            ]
        )

    async def lead(self, accounts: ZeroSSLAccounts) -> None:
        """One leadership term, until cancelled: once every cache has synced, the term's
        reconcilers work the queues, starting with every cached object."""
        settings, clock, kube, caches = self._settings, self._clock, self._kube, self.caches
        await asyncio.gather(*(i.wait_synced() for i in caches.informers))
        log.info("leading: starting reconcilers", extra={"identity": settings.identity})
        issuers = IssuerReconciler(
            kube,
            caches,
            accounts=accounts,
            secrets=self.secrets,
            recorder=self.recorder,
            queue=self.issuer_queue,
            clock=clock,
            policy=self._policies.issuers,
            rng=self._rng,
        )
        poller = IssuancePoller(self.order_queue, interval=settings.poll_interval, clock=clock)
        fresh = FreshOrders()  # this term's knowledge only: a new leader knows no order as fresh
        # The term's lost-draft searches, coalesced per account; a create the old leader sent is
        # answered within the ZeroSSL call timeout.
        drafts = DraftSearches(grace=settings.zerossl_timeout)
        orders = OrderReconciler(
            kube,
            caches,
            accounts=accounts,
            secrets=self.secrets,
            recorder=self.recorder,
            issuers=issuers,
            poller=poller,
            settings=settings,
            clock=clock,
            policy=self._policies.orders,
            fresh=fresh,
            drafts=drafts,
            wake=self.order_queue.add,
            writes=self.order_writes,
        )
        requests = RequestReconciler(
            kube, caches, self.recorder, clock, fresh, writes=self.request_writes
        )
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
        # A new term's reconcilers wait for none of an earlier term's writes.
        self.order_writes.clear()
        self.request_writes.clear()
        self.watches.leading = True
        try:
            await self.watches.resync()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.recorder.run(), name="events")
                tasks.create_task(poller.run(), name="poller")
                tasks.create_task(drafts.run(), name="draft-searches")
                for pool in pools:
                    tasks.create_task(pool.run(), name=f"workers-{pool.name}")
        finally:
            self.watches.leading = False
            orders.close()
