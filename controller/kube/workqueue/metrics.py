"""Work-queue metrics hooks (client-go ``metrics.go`` / component-base semantics).

Invariants: ``add`` is called only for adds that were not deduplicated, so ``workqueue_adds``
counts real arrivals and ``workqueue_depth`` rises by one per arrival and falls by one per
``get``; ``retry`` counts every accepted ``add_after``; a queue without a name or without a
provider gets :class:`NoQueueMetrics` and reports nothing. Times come from the running event
loop's clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from controller.kube.metrics import NO_METRICS, QueueMetricsProvider

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)


class QueueMetrics(Protocol[K_contra]):
    def add(self, item: K_contra) -> None: ...

    def get(self, item: K_contra) -> None: ...

    def done(self, item: K_contra) -> None: ...

    def retry(self) -> None: ...

    def update_unfinished_work(self) -> None: ...


class NoQueueMetrics:
    """The hooks of an unnamed queue: nothing is recorded."""

    def add(self, item: Hashable) -> None:
        pass

    def get(self, item: Hashable) -> None:
        pass

    def done(self, item: Hashable) -> None:
        pass

    def retry(self) -> None:
        pass

    def update_unfinished_work(self) -> None:
        pass


class ProvidedQueueMetrics(Generic[K]):
    """Feeds the provider's series of the queue named ``name``."""

    def __init__(self, name: str, provider: QueueMetricsProvider) -> None:
        self._depth = provider.queue_depth(name)
        self._adds = provider.queue_adds(name)
        self._latency = provider.queue_latency(name)
        self._work_duration = provider.queue_work_duration(name)
        self._unfinished = provider.queue_unfinished_work(name)
        self._longest = provider.queue_longest_running(name)
        self._retries = provider.queue_retries(name)
        self._added_at: dict[K, float] = {}
        self._started_at: dict[K, float] = {}

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def add(self, item: K) -> None:
        self._adds.inc()
        self._depth.inc()
        self._added_at.setdefault(item, self._now())

    def get(self, item: K) -> None:
        now = self._now()
        self._depth.dec()
        self._started_at[item] = now
        added = self._added_at.pop(item, None)
        if added is not None:
            self._latency.observe(now - added)

    def done(self, item: K) -> None:
        started = self._started_at.pop(item, None)
        if started is not None:
            self._work_duration.observe(self._now() - started)

    def retry(self) -> None:
        self._retries.inc()

    def update_unfinished_work(self) -> None:
        now = self._now()
        ages = [now - started for started in self._started_at.values()]
        self._unfinished.set(sum(ages))
        self._longest.set(max(ages, default=0.0))


def queue_metrics(name: str | None, provider: QueueMetricsProvider = NO_METRICS) -> QueueMetrics[K]:
    """The provider's hooks for a named queue, no-op hooks for an unnamed or unprovided one."""
    if name and provider is not NO_METRICS:
        return ProvidedQueueMetrics(name, provider)
    return NoQueueMetrics()
