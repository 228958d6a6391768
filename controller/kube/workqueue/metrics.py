"""Work-queue metrics hooks (client-go ``metrics.go`` / component-base semantics).

Invariants: ``add`` is called only for adds that were not deduplicated, so ``workqueue_adds``
counts real arrivals and ``workqueue_depth`` rises by one per arrival and falls by one per
``get``; ``retry`` counts every accepted ``add_after``; a queue without a name gets
:class:`NoQueueMetrics` and exports nothing. Times come from the running event loop's clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from controller.observability import metrics

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


class PrometheusQueueMetrics(Generic[K]):
    """Feeds the ``workqueue_*`` series labelled ``name=<queue name>``."""

    def __init__(self, name: str) -> None:
        self._depth = metrics.workqueue_depth.labels(name)
        self._adds = metrics.workqueue_adds.labels(name)
        self._latency = metrics.workqueue_queue_duration.labels(name)
        self._work_duration = metrics.workqueue_work_duration.labels(name)
        self._unfinished = metrics.workqueue_unfinished_work.labels(name)
        self._longest = metrics.workqueue_longest_running.labels(name)
        self._retries = metrics.workqueue_retries.labels(name)
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


def queue_metrics(name: str | None) -> QueueMetrics[K]:
    """Prometheus hooks for a named queue, no-op hooks for an unnamed one."""
    return PrometheusQueueMetrics(name) if name else NoQueueMetrics()
