"""The reconcile worker pool: N workers over one rate-limited work queue.

Invariants:
- Each worker loops ``key = await queue.get(); try: reconcile(key) finally: queue.done(key)``;
  the queue's processing set, not a lock, keeps two workers off the same key.
- A reconcile's outcome maps to the queue exactly once: :class:`Done` forgets the key's
  failures; :class:`RequeueAfter` forgets them and re-adds the key after the wait (a deliberate
  wait is not a failure); :class:`Retry` or any exception re-adds it with per-key backoff. An
  exception never ends a worker; ``CancelledError`` always propagates.
- Each retry logs one WARNING line with the error and when the next attempt comes; an
  exception's traceback is logged once per run of failures of a key (its first), at DEBUG.
- Workers stop taking keys once the queue shuts down; ``stop`` drains in-flight reconciles for
  at most ``drain_timeout`` seconds, then cancels them.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeAlias, TypeVar

from controller.kube.metrics import NO_METRICS, WorkerMetricsProvider
from controller.kube.workqueue import QueueShutDown, RateLimitingQueue
from controller.observability.logging import log_context
from controller.observability.redact import redact_text

K = TypeVar("K", bound=Hashable)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Done:
    """Nothing more to do until the object changes again."""


@dataclass(frozen=True, slots=True)
class RequeueAfter:
    """Look again after ``seconds`` (e.g. polling a pending order); not a failure."""

    seconds: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.seconds) and self.seconds > 0):
            raise ValueError(f"RequeueAfter needs a finite positive delay, got {self.seconds!r}")


@dataclass(frozen=True, slots=True)
class Retry:
    """A transient failure: retry with the key's exponential backoff."""

    reason: str


Result: TypeAlias = Done | RequeueAfter | Retry
DONE = Done()

Reconcile: TypeAlias = Callable[[K], Awaitable[Result]]


class WorkerPool(Generic[K]):
    """Runs ``workers`` reconcile loops named ``name`` (the metrics' controller label)."""

    def __init__(
        self,
        name: str,
        queue: RateLimitingQueue[K],
        reconcile: Reconcile[K],
        *,
        workers: int = 1,
        reconcile_timeout: float | None = None,
        drain_timeout: float = 30.0,
        metrics: WorkerMetricsProvider = NO_METRICS,
    ) -> None:
        if workers < 1:
            raise ValueError(f"a worker pool needs at least one worker, got {workers}")
        if reconcile_timeout is not None and reconcile_timeout <= 0:
            raise ValueError(f"reconcile_timeout must be positive, got {reconcile_timeout}")
        self.name = name
        self.queue = queue
        self._reconcile = reconcile
        self._workers = workers
        self._reconcile_timeout = reconcile_timeout
        self._drain_timeout = drain_timeout
        self._tasks: set[asyncio.Task[None]] = set()
        self._duration = metrics.reconcile_duration(name)
        self._outcomes = {
            result: metrics.reconciles(name, result) for result in ("done", "requeue", "error")
        }

    async def run(self) -> None:
        """Runs the workers and the queue's housekeeping until the queue shuts down and the
        in-flight reconciles end, or until cancelled (in-flight reconciles are cancelled too)."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.queue.run(), name=f"{self.name}-queue")
            for index in range(self._workers):
                task = tg.create_task(self._work(), name=f"{self.name}-worker-{index}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Graceful stop: no new keys are taken; waits up to ``drain_timeout`` seconds for the
        in-flight reconciles, then cancels the ones still running."""
        try:
            async with asyncio.timeout(self._drain_timeout):
                await self.queue.shutdown_with_drain()
        except TimeoutError:
            log.warning(
                "%s: reconciles still running after %.1fs drain; cancelling %d worker(s)",
                self.name,
                self._drain_timeout,
                len(self._tasks),
            )
            self.queue.shutdown()
            for task in list(self._tasks):
                task.cancel()

    async def _work(self) -> None:
        while not self.queue.shutting_down:
            try:
                key = await self.queue.get()
            except QueueShutDown:
                return
            try:
                with log_context(str(key), self.name):
                    await self._process(key)
            finally:
                self.queue.done(key)

    async def _process(self, key: K) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        error: Exception | None = None
        try:
            async with asyncio.timeout(self._reconcile_timeout) as deadline:
                result = await self._reconcile(key)
        except Exception as exc:
            if isinstance(exc, TimeoutError) and deadline.expired():
                result = Retry(f"reconcile timed out after {self._reconcile_timeout}s")
            else:
                result, error = Retry(f"{type(exc).__name__}: {exc}"), exc
        finally:
            self._duration.observe(loop.time() - started)
        self._apply(key, result, error)

    def _apply(self, key: K, result: Result, error: Exception | None) -> None:
        """Hands the outcome to the queue and logs a retry (the logging pipeline redacts)."""
        match result:
            case Done():
                self.queue.forget(key)
                self._outcomes["done"].inc()
            case RequeueAfter(seconds):
                self.queue.forget(key)
                self.queue.add_after(key, seconds)
                self._outcomes["requeue"].inc()
            case Retry(reason):
                failures = self.queue.num_requeues(key)
                delay = self.queue.rate_limiter.when(key)
                self.queue.add_after(key, delay)
                self._outcomes["error"].inc()
                shown = redact_text(str(key))
                log.warning(
                    "%s: reconcile of %s failed (attempt %d), next attempt in %.3gs: %s",
                    self.name,
                    shown,
                    failures + 1,
                    delay,
                    redact_text(reason),
                    extra={"attempt": failures + 1, "retry_in": round(delay, 3)},
                )
                if error is not None and failures == 0:
                    log.debug("%s: reconcile of %s raised", self.name, shown, exc_info=error)
