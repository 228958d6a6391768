"""Gauges derived from the caches, refreshed on every replica: orders by ZeroSSL status,
issuer readiness, and the age of the oldest CertificateRequest still pending.

Invariant: each refresh sets every label value it saw and removes the ones that vanished, so a
deleted issuer or an emptied status never leaves a stale series behind.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from controller.clock import Clock, parse_rfc3339
from controller.issuer.conditions import APPROVED, READY, Conditions, RequestReason, find, is_true
from controller.issuer.controllers.caches import Caches, request_issuer
from controller.issuer.issuers import Issuer
from controller.observability import metrics

INTERVAL = 10.0


class CacheMetrics:
    def __init__(self, caches: Caches, clock: Clock, interval: float = INTERVAL) -> None:
        self._caches = caches
        self._clock = clock
        self._interval = interval
        self._statuses: set[str] = set()
        self._issuers: set[tuple[str, str, str]] = set()

    async def run(self) -> None:
        while True:
            self.refresh()
            await asyncio.sleep(self._interval)

    def refresh(self) -> None:
        self._orders()
        self._issuer_readiness()
        self._oldest_pending()

    def _orders(self) -> None:
        counts = Counter(
            str((obj.get("status") or {}).get("zerosslStatus") or "none")
            for obj in self._caches.orders.store.objects()
        )
        for status in self._statuses - counts.keys():
            metrics.orders.remove(status)
        for status, count in counts.items():
            metrics.orders.labels(zerossl_status=status).set(count)
        self._statuses = set(counts)

    def _issuer_readiness(self) -> None:
        seen: set[tuple[str, str, str]] = set()
        for informer in (self._caches.issuers, self._caches.cluster_issuers):
            for obj in informer.store.objects():
                issuer = Issuer.from_object(obj)
                labels = (str(issuer.ref.kind), issuer.ref.namespace or "", issuer.ref.name)
                seen.add(labels)
                metrics.issuer_ready.labels(*labels).set(1 if issuer.ready else 0)
        for labels in self._issuers - seen:
            metrics.issuer_ready.remove(*labels)
        self._issuers = seen

    def _oldest_pending(self) -> None:
        now = self._clock.now()
        oldest = 0.0
        for obj in self._caches.requests.store.objects():
            if request_issuer(obj) is None:
                continue
            if not _pending((obj.get("status") or {}).get("conditions")):
                continue
            created = obj["metadata"].get("creationTimestamp")
            if created:
                oldest = max(oldest, (now - parse_rfc3339(created)).total_seconds())
        metrics.oldest_pending_request.set(oldest)


def _pending(conditions: Conditions | None) -> bool:
    """Ready=False/Pending, or approved with no Ready condition yet (its order works
    routinely: no Pending is written for that)."""
    ready = find(conditions, READY)
    if ready is None:
        return is_true(conditions, APPROVED)
    return ready.get("reason") == RequestReason.PENDING
