"""The rate-limiting queue (client-go ``rate_limiting_queue.go``).

Invariant: ``add_rate_limited(x)`` is ``add_after(x, limiter.when(x))``; ``forget`` only clears
the limiter's memory of ``x`` (the worker still calls ``done``). Call ``forget`` after every
success, or the item's backoff keeps growing to the maximum.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from controller.kube.metrics import NO_METRICS, QueueMetricsProvider
from controller.kube.workqueue.delaying import DelayingQueue
from controller.kube.workqueue.ratelimiters import RateLimiter, default_controller_rate_limiter

K = TypeVar("K", bound=Hashable)


class RateLimitingQueue(DelayingQueue[K]):
    def __init__(
        self,
        rate_limiter: RateLimiter[K] | None = None,
        name: str | None = None,
        *,
        metrics: QueueMetricsProvider = NO_METRICS,
        urgent: Callable[[K], bool] | None = None,
    ) -> None:
        super().__init__(name, metrics=metrics, urgent=urgent)
        self.rate_limiter: RateLimiter[K] = rate_limiter or default_controller_rate_limiter()

    def add_rate_limited(self, item: K) -> None:
        """Adds ``item`` once the rate limiter says it may be retried."""
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: K) -> None:
        """Stops tracking ``item``'s failures (its next failure starts from the base delay)."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: K) -> int:
        return self.rate_limiter.num_requeues(item)
