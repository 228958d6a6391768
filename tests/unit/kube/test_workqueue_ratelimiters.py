"""Tables for the rate limiters' when / num_requeues / forget, and the rate-limiting queue."""

from __future__ import annotations

import asyncio

import pytest

from controller.kube.workqueue import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimitingQueue,
    default_controller_rate_limiter,
)
from tests.support.virtual_loop import run_virtual


class ManualClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize(
    ("base", "max_delay", "expected"),
    [
        (0.005, 1000.0, [0.005, 0.01, 0.02, 0.04, 0.08]),
        (1.0, 5.0, [1.0, 2.0, 4.0, 5.0, 5.0]),
        (0.001, 0.001, [0.001, 0.001, 0.001]),
    ],
)
def test_exponential_delays(base: float, max_delay: float, expected: list[float]) -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(
        base, max_delay
    )
    assert [limiter.when("x") for _ in expected] == pytest.approx(expected)
    assert limiter.num_requeues("x") == len(expected)


def test_exponential_default_reaches_655s_on_the_18th_failure_then_caps() -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter()
    delays = [limiter.when("x") for _ in range(20)]
    assert delays[17] == pytest.approx(655.36)
    assert delays[18:] == [1000.0, 1000.0]


def test_exponential_survives_huge_failure_counts() -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(1e-9, 7.0)
    delays = [limiter.when("x") for _ in range(1100)]
    assert delays[-1] == 7.0


def test_exponential_items_are_independent_and_forget_resets() -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(1.0, 100)
    limiter.when("a")
    limiter.when("a")
    assert limiter.when("b") == 1.0
    assert limiter.num_requeues("a") == 2
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == 1.0
    limiter.forget("never-seen")


@pytest.mark.parametrize(("base", "max_delay"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_exponential_rejects_bad_parameters(base: float, max_delay: float) -> None:
    with pytest.raises(ValueError, match="base"):
        ItemExponentialFailureRateLimiter(base, max_delay)


def test_bucket_books_a_slot_per_call_after_the_burst() -> None:
    clock = ManualClock()
    limiter = BucketRateLimiter(10.0, 3, clock)
    assert [limiter.when(i) for i in range(5)] == pytest.approx([0, 0, 0, 0.1, 0.2])
    assert limiter.num_requeues(0) == 0
    limiter.forget(0)
    clock.t = 10.0
    assert limiter.when("later") == 0.0


def test_max_of_consults_every_limiter() -> None:
    clock = ManualClock()
    exponential: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(1.0, 60)
    bucket = BucketRateLimiter(1.0, 1, clock)
    limiter = MaxOfRateLimiter(exponential, bucket)
    # exponential 1, 2, 4 vs bucket 0, 1, 2: the max wins, and both limiters advance.
    assert [limiter.when("x") for _ in range(3)] == pytest.approx([1.0, 2.0, 4.0])
    assert bucket.bucket.tokens() == pytest.approx(-2.0)
    assert limiter.num_requeues("x") == 3
    limiter.forget("x")
    assert limiter.num_requeues("x") == 0


def test_max_of_needs_a_limiter() -> None:
    with pytest.raises(ValueError, match="at least one"):
        MaxOfRateLimiter()


def test_default_controller_limiter_is_exponential_with_a_100_burst_bucket() -> None:
    clock = ManualClock()
    limiter: MaxOfRateLimiter[int] = default_controller_rate_limiter(clock)
    first_failures = [limiter.when(i) for i in range(100)]
    assert first_failures == [0.005] * 100
    assert limiter.when(100) == pytest.approx(0.1)  # burst used up: 10 qps spacing
    assert limiter.when(0) == pytest.approx(0.2)  # second failure of item 0: 10 ms < bucket


def test_rate_limiting_queue_backs_off_and_forget_resets() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(1, 60)
        q = RateLimitingQueue(limiter)
        waits = []
        for _ in range(3):
            start = loop.time()
            q.add_rate_limited("k")
            assert await q.get() == "k"
            waits.append(loop.time() - start)
            q.done("k")
        assert q.num_requeues("k") == 3
        q.forget("k")
        assert q.num_requeues("k") == 0
        start = loop.time()
        q.add_rate_limited("k")
        await q.get()
        waits.append(loop.time() - start)
        return waits

    assert run_virtual(main()) == pytest.approx([1.0, 2.0, 4.0, 1.0])


def test_rate_limiting_queue_defaults_to_the_controller_limiter() -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue()
    assert isinstance(q.rate_limiter, MaxOfRateLimiter)
