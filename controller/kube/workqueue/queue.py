"""The core work queue (client-go ``util/workqueue/queue.go``) for one asyncio event loop.

Invariants:
- Every item in the FIFO is in ``dirty`` and not in ``processing``; an item appears in the FIFO
  at most once. The FIFO has two lanes: items added with ``add_first`` (work that finishes
  what was started, e.g. a certificate found issued) are handed out before the others, each
  lane in its own order; ``add_first`` of an item queued in the normal lane moves it over. A
  queue given ``urgent`` asks it on every ``add`` (so on every delayed add and retry too) and
  takes the first lane for items it names: the lane follows the item's state, not its caller.
- ``add`` of a dirty item is a no-op (deduplication); ``add`` of an item being processed only
  marks it dirty, and ``done`` puts it back in the FIFO. So no two workers ever hold the same
  item, and every ``add`` after the last ``get`` of an item leads to one more ``get`` of it.
- After ``shutdown`` new adds are ignored, ``get`` still hands out what is queued and raises
  :class:`QueueShutDown` once the FIFO is empty.
- All methods must be called from the loop that runs the workers (no threads).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from controller.kube.metrics import NO_METRICS, QueueMetricsProvider
from controller.kube.workqueue.metrics import QueueMetrics, queue_metrics

K = TypeVar("K", bound=Hashable)

UNFINISHED_WORK_UPDATE_PERIOD = 0.5
"""Seconds between refreshes of the unfinished-work gauges (client-go's default)."""


class QueueShutDown(Exception):
    """``get`` was called on a queue that is shutting down and has nothing left to hand out."""

    def __init__(self) -> None:
        super().__init__("the work queue is shut down")


class WorkQueue(Generic[K]):
    """A deduplicating FIFO with dirty/processing sets; ``name`` labels its metrics."""

    def __init__(
        self,
        name: str | None = None,
        *,
        metrics: QueueMetricsProvider = NO_METRICS,
        urgent: Callable[[K], bool] | None = None,
    ) -> None:
        """``urgent(item)``: True if ``add`` should take the first lane for ``item``."""
        self.name = name
        self._urgent = urgent
        self._metrics: QueueMetrics[K] = queue_metrics(name, metrics)
        self._queue: deque[K] = deque()
        self._first: deque[K] = deque()  # the lane handed out before ``_queue``
        self._first_after_done: set[K] = set()  # processed items to re-queue in ``_first``
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        self._drain = False
        # Set on shutdown and whenever ``processing`` becomes empty; waiters re-check and clear.
        self._state_changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._first) + len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def add(self, item: K) -> None:
        """Marks ``item`` as needing processing; deduplicated against queued items."""
        if self._urgent is not None and not self._shutting_down and self._urgent(item):
            self.add_first(item)
            return
        if self._shutting_down or item in self._dirty:
            return
        self._metrics.add(item)
        self._dirty.add(item)
        if item in self._processing:
            return
        self._queue.append(item)
        self._wake_one_getter()

    def add_first(self, item: K) -> None:
        """Like ``add``, but ``item`` is handed out before every item added with ``add``."""
        if self._shutting_down:
            return
        if item in self._dirty:
            if item in self._processing:
                self._first_after_done.add(item)
            elif item not in self._first:
                self._queue.remove(item)
                self._first.append(item)
            return
        self._metrics.add(item)
        self._dirty.add(item)
        if item in self._processing:
            self._first_after_done.add(item)
            return
        self._first.append(item)
        self._wake_one_getter()

    async def get(self) -> K:
        """Waits for an item and marks it as being processed; the caller must call ``done``.

        Raises :class:`QueueShutDown` when the queue is shutting down and empty.
        """
        while not self._first and not self._queue:
            if self._shutting_down:
                raise QueueShutDown
            waiter = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                woken = waiter.done() and not waiter.cancelled()
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._getters.remove(waiter)
                if woken and (self._first or self._queue):
                    self._wake_one_getter()  # hand our wake-up to another getter
                raise
        item = self._first.popleft() if self._first else self._queue.popleft()
        self._metrics.get(item)
        self._processing.add(item)
        self._dirty.discard(item)
        return item

    def done(self, item: K) -> None:
        """Ends processing of ``item``; re-queues it if it was added meanwhile."""
        if item not in self._processing:
            raise ValueError(f"done() called for an item that is not being processed: {item!r}")
        self._metrics.done(item)
        self._processing.remove(item)
        first = item in self._first_after_done
        self._first_after_done.discard(item)
        if item in self._dirty:
            (self._first if first else self._queue).append(item)
            self._wake_one_getter()
        elif not self._processing:
            self._state_changed.set()

    def shutdown(self) -> None:
        """Ignores further adds; getters drain the FIFO, then get :class:`QueueShutDown`.

        Also ends a pending ``shutdown_with_drain`` wait.
        """
        self._drain = False
        self._begin_shutdown()

    async def shutdown_with_drain(self) -> None:
        """Like ``shutdown``, then waits until no item is being processed.

        Returns early if ``shutdown`` is called meanwhile. As in client-go, the wait ends as soon
        as ``processing`` is momentarily empty, even if items are still queued.
        """
        self._drain = True
        self._begin_shutdown()
        while self._processing and self._drain:
            self._state_changed.clear()
            await self._state_changed.wait()

    async def run(self) -> None:
        """Refreshes the unfinished-work gauges every 500 ms while the queue is in use.

        Returns once the queue is shut down and nothing is being processed.
        """
        while not (self._shutting_down and not self._processing):
            self._metrics.update_unfinished_work()
            self._state_changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(UNFINISHED_WORK_UPDATE_PERIOD):
                    await self._state_changed.wait()
        self._metrics.update_unfinished_work()

    def _begin_shutdown(self) -> None:
        self._shutting_down = True
        self._state_changed.set()
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _wake_one_getter(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
