from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.observability import metrics
from controller.zerossl.limiter import MAX_PAUSE, LimiterRegistry, account_id
from controller.zerossl.priority import Priority
from tests.unit.zerossl.virtual_time import VirtualTime

EPS = 1e-6


@dataclass(frozen=True)
class Step:
    gap: float
    action: str  # "start", "finish" (acquire at that priority), "throttle", "cancel"
    retry_after: float | None = None


steps = st.lists(
    st.one_of(
        st.builds(Step, st.floats(0, 1), st.just("start")),
        st.builds(Step, st.floats(0, 1), st.just("finish")),
        st.builds(Step, st.floats(0, 2), st.just("cancel")),
        st.builds(Step, st.floats(0, 2), st.just("throttle"), st.none() | st.floats(0, 5)),
    ),
    min_size=1,
    max_size=60,
)


def run_scenario(
    rate: float, burst: int, accounts: int, plan: list[Step]
) -> tuple[dict[int, list[float]], list[tuple[int, float, float]], float]:
    """Drives acquirers on ``accounts`` keys; returns grants, pauses and the default pause."""
    time = VirtualTime()
    registry = LimiterRegistry(rate, burst, clock=time.clock, sleep=time.sleep, default_pause=3)
    limiters = [registry.for_account(f"key-{i}") for i in range(accounts)]
    grants: dict[int, list[float]] = {i: [] for i in range(accounts)}
    pauses: list[tuple[int, float, float]] = []

    async def scenario() -> None:
        tasks: list[asyncio.Task[None]] = []

        async def acquirer(i: int, priority: Priority) -> None:
            await limiters[i].acquire(priority)
            grants[i].append(time.now())

        timeline = []
        t = time.now()
        for n, step in enumerate(plan):
            t += step.gap
            i = n % accounts
            if step.action in ("start", "finish"):
                priority = Priority[step.action.upper()]
                timeline.append(
                    (t, lambda i=i, p=priority: tasks.append(asyncio.create_task(acquirer(i, p))))
                )
            elif step.action == "throttle":

                def throttle(i: int = i, retry_after: float | None = step.retry_after) -> None:
                    pause = limiters[i].throttle(retry_after)
                    pauses.append((i, time.now(), time.now() + pause))

                timeline.append((t, throttle))
            else:
                timeline.append((t, lambda: [x.cancel() for x in tasks if not x.done()][:1]))
        await time.run(timeline)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(r is None or isinstance(r, asyncio.CancelledError) for r in results)

    asyncio.run(scenario())
    return grants, pauses, 3.0


@settings(max_examples=150, deadline=None)
@given(
    rate=st.floats(0.5, 20),
    burst=st.integers(1, 8),
    accounts=st.integers(1, 2),
    plan=steps,
    window=st.floats(0.01, 10),
)
def test_never_exceeds_rate_times_window_plus_burst_even_with_pauses(
    rate: float, burst: int, accounts: int, plan: list[Step], window: float
) -> None:
    grants, pauses, _ = run_scenario(rate, burst, accounts, plan)
    for account, times in grants.items():
        times.sort()
        for i, start in enumerate(times):
            inside = sum(1 for g in times[i:] if g <= start + window + EPS)
            assert inside <= rate * window + burst + EPS
        for paused, begin, end in pauses:
            if paused == account:
                assert not [g for g in times if begin + EPS < g < end - EPS]


def test_queued_calls_spread_out_after_a_pause() -> None:
    time = VirtualTime()
    registry = LimiterRegistry(1.0, 2, clock=time.clock, sleep=time.sleep)
    limiter = registry.for_account("k-spread")
    start = time.now()
    grants: list[float] = []

    async def scenario() -> None:
        limiter.throttle(10)

        async def one() -> None:
            await limiter.acquire(Priority.START)
            grants.append(time.now() - start)

        tasks = [asyncio.create_task(one()) for _ in range(5)]
        await time.run([])
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    # Burst 2 at the end of the pause, then one per second.
    assert sorted(grants) == pytest.approx([10, 10, 11, 12, 13])


def test_a_pause_holds_back_a_waiter_already_booked() -> None:
    time = VirtualTime()
    limiter = LimiterRegistry(1.0, 1, clock=time.clock, sleep=time.sleep).for_account("k-held")
    start = time.now()
    grants: list[float] = []

    async def scenario() -> None:
        await limiter.acquire(Priority.START)  # the burst token
        task = asyncio.create_task(limiter.acquire(Priority.START))  # booked for start + 1
        await time.run([(start + 0.5, lambda: limiter.throttle(4))])
        await task
        grants.append(time.now() - start)

    asyncio.run(scenario())
    assert grants[0] >= 4.5 - EPS


def test_pause_is_capped_and_defaulted() -> None:
    time = VirtualTime()
    limiter = LimiterRegistry(1.0, 1, clock=time.clock, default_pause=7).for_account("k-cap")
    before = metrics.zerossl_throttled.labels(account=account_id("k-cap"))._value.get()
    assert limiter.throttle(86400) == MAX_PAUSE
    assert limiter.throttle(None) == 7
    assert limiter.paused_for() == pytest.approx(MAX_PAUSE)  # pauses never shorten
    assert metrics.zerossl_throttled.labels(account=account_id("k-cap"))._value.get() == before + 2


def test_registry_shares_one_bucket_per_key_and_never_keeps_the_key() -> None:
    registry = LimiterRegistry(2.0, 5)
    first = registry.for_account("secret-key-1")
    again = registry.for_account("secret-key-1")
    other = registry.for_account("secret-key-2")
    assert first is again
    # The label is the key's fingerprint: the same whichever issuer came first, every restart.
    expected = hashlib.sha256(b"secret-key-1").hexdigest()[:16]
    assert first.name == account_id("secret-key-1") == expected
    assert LimiterRegistry(2.0, 5).for_account("secret-key-1").name == expected
    assert other is not first
    assert "secret-key-1" not in repr(vars(registry))
    assert account_id("secret-key-1") != account_id("secret-key-2")
    with pytest.raises(ValueError, match="API key"):
        registry.for_account("")
    with pytest.raises(ValueError, match="burst"):
        LimiterRegistry(0, 1)


async def test_cancelled_waiter_returns_its_token_and_wait_is_observed() -> None:
    registry = LimiterRegistry(20.0, 1)
    limiter = registry.for_account("k-cancel")
    assert await limiter.acquire(Priority.START) == 0.0
    waiter = asyncio.create_task(limiter.acquire(Priority.START))
    await asyncio.sleep(0.005)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    waited = await limiter.acquire(Priority.START)  # the slot it left, ~0.05 s after the first
    assert 0 < waited < 0.2
    wait = metrics.zerossl_limiter_wait.labels(account=account_id("k-cancel"), priority="start")
    samples = wait._sum.get()
    assert samples >= waited
