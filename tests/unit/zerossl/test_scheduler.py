"""SlotScheduler: the bucket's bound, pauses, cancellation, priority order, FIFO and aging."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.tokenbucket import TokenBucket
from controller.zerossl.priority import Priority
from controller.zerossl.scheduler import SlotScheduler
from tests.unit.zerossl.virtual_time import VirtualTime

EPS = 1e-6


@dataclass(frozen=True)
class Step:
    gap: float
    action: str  # "start", "finish" (a call at that priority), "cancel", "throttle"
    pause: float = 0.0  # throttle: seconds
    pick: int = 0  # cancel: which waiting call
    turns: int = 0  # cancel, throttle: loop turns to wait first (between a grant and resuming)


@dataclass
class Call:
    priority: Priority
    arrived: float
    granted: float | None = None
    cancelled: float | None = None

    @property
    def ended(self) -> float:
        end = self.granted if self.granted is not None else self.cancelled
        assert end is not None
        return end


turns = st.integers(0, 1)  # 0: lands between a grant and its waiter resuming, on the grid


def plans(gaps: st.SearchStrategy[float]) -> st.SearchStrategy[list[Step]]:
    return st.lists(
        st.one_of(
            st.builds(Step, gaps, st.just("start")),
            st.builds(Step, gaps, st.just("finish")),
            st.builds(Step, gaps, st.just("finish")),
            st.builds(Step, gaps, st.just("cancel"), pick=st.integers(0, 3), turns=turns),
            st.builds(
                Step, gaps, st.just("throttle"), pause=gaps.map(lambda g: 4 * g), turns=turns
            ),
        ),
        min_size=1,
        max_size=80,
    )


# Times on a grid of 1/2 s with rates of 1 or 2 per second make events land exactly on
# grants, so cancellations and pauses also hit the turn between a grant and its waiter resuming.
on_grid = st.tuples(st.sampled_from([1.0, 2.0]), plans(st.sampled_from([0.0, 0.5, 1.0])))
anywhere = st.tuples(st.floats(0.5, 20), plans(st.floats(0, 1)))


def run(
    rate: float, burst: int, aging: float, plan: list[Step]
) -> tuple[list[Call], list[tuple[float, float]]]:
    """Plays ``plan`` in virtual time; returns every call and every pause (begin, end)."""
    time = VirtualTime()
    bucket = TokenBucket(rate, burst, time.now)
    scheduler = SlotScheduler(bucket, time.now, time.sleep, aging=aging)
    calls: list[Call] = []
    pauses: list[tuple[float, float]] = []

    async def scenario() -> None:
        tasks: list[tuple[asyncio.Task[None], Call]] = []

        async def caller(call: Call) -> None:
            await scheduler.acquire(call.priority)
            call.granted = time.now()

        def arrive(priority: Priority) -> None:
            call = Call(priority, time.now())
            calls.append(call)
            tasks.append((asyncio.create_task(caller(call)), call))

        def later(turns: int, action: Callable[[], None]) -> None:
            async def after_turns() -> None:
                for _ in range(turns):
                    await asyncio.sleep(0)
                action()

            helpers.append(asyncio.create_task(after_turns()))

        def cancel(pick: int) -> None:
            waiting = [(task, call) for task, call in tasks if not task.done()]
            if waiting:
                task, call = waiting[pick % len(waiting)]
                task.cancel()
                call.cancelled = time.now()

        def throttle(pause: float) -> None:
            bucket.pause_until(time.now() + pause)
            pauses.append((time.now(), time.now() + pause))

        helpers: list[asyncio.Task[None]] = []
        timeline = []
        t = time.now()
        for step in plan:
            t += step.gap
            if step.action in ("start", "finish"):
                priority = Priority[step.action.upper()]
                timeline.append((t, lambda p=priority: arrive(p)))
            elif step.action == "cancel":
                timeline.append((t, lambda s=step: later(s.turns, lambda: cancel(s.pick))))
            else:
                timeline.append((t, lambda s=step: later(s.turns, lambda: throttle(s.pause))))
        await time.run(timeline)
        await asyncio.gather(*helpers)
        results = await asyncio.gather(*(task for task, _ in tasks), return_exceptions=True)
        assert all(r is None or isinstance(r, asyncio.CancelledError) for r in results)
        assert len(asyncio.all_tasks()) == 1, "the dispatcher outlived the waiters"

    asyncio.run(scenario())
    return calls, pauses


@settings(max_examples=800, deadline=None)
@given(
    rate_and_plan=on_grid | anywhere,
    burst=st.integers(1, 6),
    aging=st.just(math.inf) | st.floats(0.5, 5),
    window=st.floats(0.01, 10),
)
def test_bound_pauses_priority_and_fifo_hold_under_random_arrivals(
    rate_and_plan: tuple[float, list[Step]], burst: int, aging: float, window: float
) -> None:
    rate, plan = rate_and_plan
    calls, pauses = run(rate, burst, aging, plan)
    granted = [c for c in calls if c.granted is not None]
    times = sorted(c.granted for c in granted if c.granted is not None)

    # The bucket's bound: at most rate * window + burst grants in any window.
    for i, start in enumerate(times):
        inside = sum(1 for g in times[i:] if g <= start + window + EPS)
        assert inside <= rate * window + burst + EPS
    # Nothing is granted while the account is paused.
    for begin, end in pauses:
        assert not [g for g in times if begin + EPS < g < end - EPS]

    for call in granted:
        g = call.granted
        assert g is not None
        for other in calls:
            waited_across = other.arrived < g - EPS and other.ended > g + EPS
            if not waited_across:
                continue
            # FIFO within a priority: nobody who arrived earlier was still waiting.
            if other.priority is call.priority:
                assert other.arrived >= call.arrived - EPS
            # No START grant while a FINISH call waited, unless the START call had aged and
            # arrived first.
            if call.priority is Priority.START and other.priority is Priority.FINISH:
                assert g - call.arrived >= aging - EPS
                assert call.arrived <= other.arrived + EPS


def scheduler_at(
    rate: float, burst: int, aging: float = math.inf
) -> tuple[VirtualTime, SlotScheduler]:
    time = VirtualTime()
    return time, SlotScheduler(
        TokenBucket(rate, burst, time.now), time.now, time.sleep, aging=aging
    )


def test_finishing_calls_go_before_creates_that_waited_longer() -> None:
    time, scheduler = scheduler_at(1.0, 1)
    order: list[str] = []

    async def call(name: str, priority: Priority) -> None:
        await scheduler.acquire(priority)
        order.append(name)

    async def scenario() -> None:
        await scheduler.acquire(Priority.START)  # the burst token
        tasks = [asyncio.create_task(call(f"s{i}", Priority.START)) for i in range(3)]
        await asyncio.sleep(0)
        tasks += [asyncio.create_task(call(f"f{i}", Priority.FINISH)) for i in range(2)]
        await time.run([])
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert order == ["f0", "f1", "s0", "s1", "s2"]


def test_a_create_that_waited_the_aging_time_is_served_by_arrival() -> None:
    time, scheduler = scheduler_at(1.0, 1, aging=1.0)
    start = time.now()
    grants: dict[str, float] = {}

    async def call(name: str, priority: Priority) -> None:
        await scheduler.acquire(priority)
        grants[name] = time.now() - start

    async def scenario() -> None:
        await scheduler.acquire(Priority.START)  # the burst token
        tasks = [asyncio.create_task(call(name, Priority.FINISH)) for name in ("a", "b")]
        tasks.append(asyncio.create_task(call("create", Priority.START)))

        def finish(i: int) -> None:
            tasks.append(asyncio.create_task(call(f"f{i}", Priority.FINISH)))

        # Two finishing calls a second from 0.5 s on, twice what the bucket grants: a flood.
        await time.run([(start + (i + 1) / 2, lambda i=i: finish(i)) for i in range(20)])
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    # Aged at 1 s, the create still waits for the finishing calls that came before it.
    assert [grants[n] for n in ("a", "b", "create", "f0")] == pytest.approx([1, 2, 3, 4])


def test_a_grant_cancelled_before_its_waiter_resumes_returns_the_token() -> None:
    """The waiter is cancelled in the loop turn between its grant and its resumption."""
    clock = [0.0]
    wakeups: list[asyncio.Future[None]] = []

    async def sleep(delay: float) -> None:
        del delay
        wakeup = asyncio.get_running_loop().create_future()
        wakeups.append(wakeup)
        await wakeup

    bucket = TokenBucket(1.0, 1, lambda: clock[0])
    scheduler = SlotScheduler(bucket, lambda: clock[0], sleep)

    async def scenario() -> None:
        await scheduler.acquire(Priority.FINISH)  # the burst token
        waiter = asyncio.create_task(scheduler.acquire(Priority.FINISH))
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the dispatcher now sleeps until the next slot
        clock[0] = 1.0
        wakeups.pop().set_result(None)
        await asyncio.sleep(0)  # the dispatcher grants the token to the waiter
        assert bucket.tokens() == pytest.approx(0.0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert bucket.tokens() == pytest.approx(1.0)
        assert await scheduler.acquire(Priority.START) == 0.0  # at once, on the returned token

    asyncio.run(scenario())


def test_the_dispatcher_stops_when_the_last_waiter_is_cancelled() -> None:
    time, scheduler = scheduler_at(1.0, 1)

    async def scenario() -> None:
        await scheduler.acquire(Priority.START)
        waiter = asyncio.create_task(scheduler.acquire(Priority.START))
        await asyncio.sleep(0)
        assert len(asyncio.all_tasks()) == 3  # this one, the waiter, the dispatcher
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await asyncio.sleep(0)
        assert len(asyncio.all_tasks()) == 1
        # A later waiter starts a new dispatcher and is served on time.
        later = asyncio.create_task(scheduler.acquire(Priority.START))
        await time.run([])
        assert await later == pytest.approx(1.0)

    asyncio.run(scenario())
