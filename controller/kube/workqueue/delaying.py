"""The delaying queue (client-go ``delaying_queue.go``): adds that take effect later.

Invariants: an item given to ``add_after`` is not added before its ready time (the running
loop's monotonic ``loop.time()`` plus the delay); if the item is already waiting, only the
earlier ready time is kept; ``shutdown`` drops every waiting item. Each waiting item owns one
``loop.call_at`` handle, so no background task is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import TypeVar

from controller.kube.metrics import NO_METRICS, QueueMetricsProvider
from controller.kube.workqueue.queue import WorkQueue

K = TypeVar("K", bound=Hashable)


class DelayingQueue(WorkQueue[K]):
    def __init__(
        self,
        name: str | None = None,
        *,
        metrics: QueueMetricsProvider = NO_METRICS,
        urgent: Callable[[K], bool] | None = None,
    ) -> None:
        super().__init__(name, metrics=metrics, urgent=urgent)
        self._waiting: dict[K, tuple[float, asyncio.TimerHandle]] = {}

    def add_after(self, item: K, delay: float) -> None:
        """Adds ``item`` after ``delay`` seconds (now if ``delay <= 0``); counts a retry."""
        if self.shutting_down:
            return
        self._metrics.retry()
        if delay <= 0:
            self.add(item)
            return
        loop = asyncio.get_running_loop()
        ready_at = loop.time() + delay
        waiting = self._waiting.get(item)
        if waiting is not None:
            if waiting[0] <= ready_at:
                return
            waiting[1].cancel()
        self._waiting[item] = (ready_at, loop.call_at(ready_at, self._ready, item))

    def _ready(self, item: K) -> None:
        del self._waiting[item]
        self.add(item)

    def _begin_shutdown(self) -> None:
        for _, handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        super()._begin_shutdown()
