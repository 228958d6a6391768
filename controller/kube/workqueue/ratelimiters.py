"""Rate limiters deciding how long a failed item waits (client-go ``default_rate_limiters.go``).

Invariants: ``when(item)`` records one more failure (or books one token) and returns the delay
in seconds, never negative; ``num_requeues`` reports recorded failures; ``forget`` clears the
item's state. Forgetting on success is the caller's job, otherwise backoff only grows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from controller.tokenbucket import TokenBucket

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)

_MAX_EXPONENT = 1024  # 2.0 ** 1024 overflows a float; every larger exponent means "max".


class RateLimiter(Protocol[K_contra]):
    def when(self, item: K_contra) -> float: ...

    def num_requeues(self, item: K_contra) -> int: ...

    def forget(self, item: K_contra) -> None: ...


class ItemExponentialFailureRateLimiter(Generic[K]):
    """Per item: ``base * 2**failures``, capped at ``max_delay``."""

    def __init__(self, base: float = 0.005, max_delay: float = 1000.0) -> None:
        if base <= 0 or max_delay < base:
            raise ValueError(f"need 0 < base <= max_delay, got base={base}, max={max_delay}")
        self.base = base
        self.max_delay = max_delay
        self._failures: dict[K, int] = {}

    def when(self, item: K) -> float:
        exponent = self._failures.get(item, 0)
        self._failures[item] = exponent + 1
        if exponent >= _MAX_EXPONENT:
            return self.max_delay
        return min(self.base * 2.0**exponent, self.max_delay)

    def num_requeues(self, item: K) -> int:
        return self._failures.get(item, 0)

    def forget(self, item: K) -> None:
        self._failures.pop(item, None)


class BucketRateLimiter:
    """One token bucket for all items: each ``when`` books the next free slot."""

    def __init__(
        self, rate: float = 10.0, burst: int = 100, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.bucket = TokenBucket(rate, burst, clock)

    def when(self, item: Hashable) -> float:
        return self.bucket.reserve()

    def num_requeues(self, item: Hashable) -> int:
        return 0

    def forget(self, item: Hashable) -> None:
        pass


class MaxOfRateLimiter(Generic[K]):
    """The longest delay of several limiters; every limiter is consulted (and books) each time."""

    def __init__(self, *limiters: RateLimiter[K]) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, item: K) -> float:
        return max([limiter.when(item) for limiter in self.limiters])

    def num_requeues(self, item: K) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)

    def forget(self, item: K) -> None:
        for limiter in self.limiters:
            limiter.forget(item)


def default_controller_rate_limiter(
    clock: Callable[[], float] = time.monotonic,
) -> MaxOfRateLimiter[K]:
    """client-go's DefaultTypedControllerRateLimiter: max(5 ms·2^n ≤ 1000 s, 10 qps burst 100)."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0), BucketRateLimiter(10.0, 100, clock)
    )
