"""Property tests: random interleavings of add/add_after/get/done by simulated workers.

Invariants checked on every run (virtual time, so delays cost nothing):
- a key is never held by two workers at once;
- every add (immediate or delayed) is followed, later in the run, by a get of that key;
- no get happens before some add justifies it: an add logged before the get, ready by then
  (its time plus delay), and either logged after the key's previous get or still waiting then;
- shutdown_with_drain returns only once no key is being processed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.kube.workqueue import DelayingQueue, QueueShutDown
from tests.support.virtual_loop import run_virtual

KEYS = "abcd"
WORKERS = 3
EPS = 1e-6

delays = st.one_of(st.just(0.0), st.floats(min_value=-1, max_value=5, allow_nan=False))
operations = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(KEYS)),
    st.tuples(st.just("add_first"), st.sampled_from(KEYS)),
    st.tuples(st.just("add_after"), st.sampled_from(KEYS), delays),
    st.tuples(st.just("get"), st.integers(0, WORKERS - 1)),
    st.tuples(st.just("done"), st.integers(0, WORKERS - 1)),
    st.tuples(st.just("sleep"), st.floats(min_value=0, max_value=3, allow_nan=False)),
)


@dataclass(frozen=True)
class Entry:
    op: str  # "add" or "get"
    key: str
    at: float
    ready: float  # for adds: when the add may take effect


class Harness:
    """Simulated workers driven one operation at a time."""

    def __init__(self, queue: DelayingQueue[str], tg: asyncio.TaskGroup) -> None:
        self.q = queue
        self.tg = tg
        self.loop = asyncio.get_running_loop()
        self.log: list[Entry] = []
        self.held: dict[int, str] = {}
        self.getting: set[int] = set()

    async def _take(self, worker: int) -> None:
        try:
            key = await self.q.get()
        except QueueShutDown:
            return
        finally:
            self.getting.discard(worker)
        assert key not in self.held.values(), f"{key} handed to two workers"
        self.held[worker] = key
        self.log.append(Entry("get", key, self.loop.time(), self.loop.time()))

    def get(self, worker: int) -> None:
        if worker not in self.held and worker not in self.getting:
            self.getting.add(worker)
            self.tg.create_task(self._take(worker))

    def done(self, worker: int) -> None:
        key = self.held.pop(worker, None)
        if key is not None:
            self.q.done(key)

    def add(self, key: str, delay: float | None, *, first: bool = False) -> None:
        now = self.loop.time()
        self.log.append(Entry("add", key, now, now + max(delay or 0.0, 0.0)))
        if first:
            self.q.add_first(key)
        elif delay is None:
            self.q.add(key)
        else:
            self.q.add_after(key, delay)

    async def settle(self) -> None:
        """Finishes every held key and keeps workers getting until nothing is left."""
        last_ready = max((e.ready for e in self.log), default=0.0)
        while True:
            for worker in list(self.held):
                self.done(worker)
            for worker in range(WORKERS):
                self.get(worker)
            for _ in range(3):
                await asyncio.sleep(0)
            if not self.held and len(self.q) == 0 and self.loop.time() > last_ready:
                return
            if not self.held:
                await asyncio.sleep(0.5)


async def play(ops: list[tuple[object, ...]]) -> list[Entry]:
    q: DelayingQueue[str] = DelayingQueue()
    async with asyncio.TaskGroup() as tg:
        h = Harness(q, tg)
        for op in ops:
            match op:
                case ("add", str(key)):
                    h.add(key, None)
                case ("add_first", str(key)):
                    h.add(key, None, first=True)
                case ("add_after", str(key), float(delay)):
                    h.add(key, delay)
                case ("get", int(worker)):
                    h.get(worker)
                case ("done", int(worker)):
                    h.done(worker)
                case ("sleep", float(seconds)):
                    await asyncio.sleep(seconds)
            await asyncio.sleep(0)
        await h.settle()
        q.shutdown()
    return h.log


def check_liveness(log: list[Entry]) -> None:
    for i, entry in enumerate(log):
        if entry.op == "add":
            later_gets = [e for e in log[i + 1 :] if e.op == "get" and e.key == entry.key]
            assert later_gets, f"add #{i} of {entry.key} at {entry.at} was never processed"


def check_delays_honoured(log: list[Entry]) -> None:
    previous_get: dict[str, tuple[int, float]] = {}
    for j, get in enumerate(log):
        if get.op != "get":
            continue
        prev_index, prev_at = previous_get.get(get.key, (-1, float("-inf")))
        justified = any(
            add.op == "add"
            and add.key == get.key
            and add.ready <= get.at + EPS
            and (i > prev_index or add.ready >= prev_at - EPS)
            for i, add in enumerate(log[:j])
        )
        assert justified, f"get #{j} of {get.key} at {get.at} had no ready add"
        previous_get[get.key] = (j, get.at)


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(operations, max_size=40))
def test_random_interleavings_keep_the_queue_invariants(ops: list[tuple[object, ...]]) -> None:
    log = run_virtual(play(ops))
    check_liveness(log)
    check_delays_honoured(log)


@settings(max_examples=100, deadline=None)
@given(
    held=st.sets(st.sampled_from(KEYS), min_size=1),
    queued=st.sets(st.sampled_from("wxyz")),
    order=st.randoms(use_true_random=False),
)
def test_shutdown_with_drain_returns_only_when_nothing_is_processing(
    held: set[str], queued: set[str], order: object
) -> None:
    async def main() -> None:
        q: DelayingQueue[str] = DelayingQueue()
        for key in sorted(held):
            q.add(key)
        in_flight = [await q.get() for _ in held]
        for key in sorted(queued):
            q.add(key)
        drain = asyncio.create_task(q.shutdown_with_drain())
        order.shuffle(in_flight)  # type: ignore[attr-defined]
        while in_flight:
            await asyncio.sleep(0)
            assert not drain.done(), "drain returned while keys were still processing"
            q.done(in_flight.pop())
        await drain
        assert len(q) == len(queued), "drain must not discard queued items"

    run_virtual(main())
