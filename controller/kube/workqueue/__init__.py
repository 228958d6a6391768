"""The rate-limited work queue: one concept per module, client-go semantics.

- :mod:`.queue`: deduplicating FIFO with dirty/processing sets and shutdown with drain;
- :mod:`.delaying`: ``add_after`` keeping the earliest ready time;
- :mod:`.ratelimiters`: per-item exponential backoff, token bucket, max-of;
- :mod:`.ratelimiting`: ``add_rate_limited`` / ``forget`` / ``num_requeues``;
- :mod:`.metrics`: the queue's metrics hooks, fed to the injected provider.
"""

from controller.kube.workqueue.delaying import DelayingQueue
from controller.kube.workqueue.queue import QueueShutDown, WorkQueue
from controller.kube.workqueue.ratelimiters import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    default_controller_rate_limiter,
)
from controller.kube.workqueue.ratelimiting import RateLimitingQueue

__all__ = [
    "BucketRateLimiter",
    "DelayingQueue",
    "ItemExponentialFailureRateLimiter",
    "MaxOfRateLimiter",
    "QueueShutDown",
    "RateLimiter",
    "RateLimitingQueue",
    "WorkQueue",
    "default_controller_rate_limiter",
]
