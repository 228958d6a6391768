from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.tokenbucket import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@settings(max_examples=300)
@given(
    rate=st.floats(min_value=0.5, max_value=50),
    burst=st.integers(min_value=1, max_value=20),
    gaps=st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=2),
            st.none() | st.floats(0, 5),
            st.booleans(),
        ),
        min_size=1,
        max_size=200,
    ),
    window=st.floats(min_value=0.01, max_value=10),
)
def test_never_exceeds_rate_times_window_plus_burst(
    rate: float, burst: int, gaps: list[tuple[float, float | None, bool]], window: float
) -> None:
    """Grants respect the bound over every window, with pauses and cancellations at random."""
    clock = Clock()
    bucket = TokenBucket(rate, burst, clock)
    pending: list[float] = []  # slots not yet reached, cancellable
    grants: list[float] = []
    pause_end = 0.0
    for gap, pause, cancel in gaps:
        clock.t += gap
        grants += [slot for slot in pending if slot <= clock.t]
        pending = [slot for slot in pending if slot > clock.t]
        if cancel and pending:
            bucket.cancel_reservation(pending.pop(0))
        if pause is not None:
            pause_end = max(pause_end, clock.t + pause)
            bucket.pause_until(clock.t + pause)
        slot = clock.t + bucket.reserve()
        assert slot >= pause_end - 1e-9  # booked after a pause: never inside it
        pending.append(slot)
    grants += pending
    grants.sort()
    # Any window [start, start+window] holds at most rate*window + burst grants.
    for i, start in enumerate(grants):
        inside = sum(1 for g in grants[i:] if g <= start + window + 1e-9)
        assert inside <= rate * window + burst + 1e-6


def test_pause_delays_every_slot() -> None:
    clock = Clock()
    bucket = TokenBucket(10, 2, clock)
    bucket.reserve()
    bucket.pause_until(3.0)
    assert bucket.paused_for() == pytest.approx(3.0)
    # The saved token is spent at the pause end, no refill during it, then rate spacing.
    assert bucket.reserve() == pytest.approx(3.0)
    assert bucket.reserve() == pytest.approx(3.1)
    clock.t = 4.0
    assert bucket.reserve() == 0.0


async def test_cancelled_waiter_returns_its_token() -> None:
    bucket = TokenBucket(1, 1)
    await bucket.acquire()
    task = asyncio.create_task(bucket.acquire())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert bucket.tokens() > -0.5
