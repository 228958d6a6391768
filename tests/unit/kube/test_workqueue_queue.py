"""Behaviour of WorkQueue and DelayingQueue, one client-go rule per test."""

from __future__ import annotations

import asyncio

import pytest

from controller.kube.workqueue import DelayingQueue, QueueShutDown, WorkQueue
from tests.support.virtual_loop import run_virtual


async def _step() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_fifo_order_and_dedup_of_queued_items() -> None:
    async def main() -> None:
        q: WorkQueue[str] = WorkQueue()
        for key in ("a", "b", "a", "c", "b"):
            q.add(key)
        assert len(q) == 3
        assert [await q.get() for _ in range(3)] == ["a", "b", "c"]
        assert len(q) == 0

    run_virtual(main())


def test_add_while_processing_is_processed_exactly_once_after_done() -> None:
    async def main() -> None:
        q: WorkQueue[str] = WorkQueue()
        q.add("a")
        assert await q.get() == "a"
        q.add("a")
        q.add("a")
        assert len(q) == 0, "a held item must not be handed to a second worker"
        q.done("a")
        assert len(q) == 1
        assert await q.get() == "a"
        q.done("a")
        assert len(q) == 0

    run_virtual(main())


def test_get_waits_for_an_add() -> None:
    async def main() -> None:
        q: WorkQueue[str] = WorkQueue()
        getter = asyncio.create_task(q.get())
        await _step()
        assert not getter.done()
        q.add("x")
        assert await getter == "x"

    run_virtual(main())


def test_done_of_an_item_not_being_processed_is_an_error() -> None:
    async def main() -> None:
        q: WorkQueue[str] = WorkQueue()
        q.add("a")
        with pytest.raises(ValueError, match="not being processed"):
            q.done("a")

    run_virtual(main())


def test_cancelled_getter_passes_its_wake_up_on() -> None:
    async def main() -> None:
        q: WorkQueue[str] = WorkQueue()
        first = asyncio.create_task(q.get())
        second = asyncio.create_task(q.get())
        await _step()
        q.add("x")  # wakes `first` ...
        first.cancel()  # ... which is cancelled before it runs
        assert await second == "x"
        assert first.cancelled()

    run_virtual(main())


def test_shutdown_hands_out_queued_items_then_raises_and_ignores_adds() -> None:
    async def main() -> None:
        q: WorkQueue[str] = WorkQueue()
        q.add("a")
        q.shutdown()
        q.add("b")
        assert q.shutting_down
        assert await q.get() == "a"
        with pytest.raises(QueueShutDown):
            await q.get()

    run_virtual(main())


def test_shutdown_wakes_waiting_getters() -> None:
    async def main() -> None:
        q: WorkQueue[str] = WorkQueue()
        getters = [asyncio.create_task(q.get()) for _ in range(3)]
        await _step()
        q.shutdown()
        results = await asyncio.gather(*getters, return_exceptions=True)
        assert all(isinstance(r, QueueShutDown) for r in results)

    run_virtual(main())


def test_shutdown_with_drain_waits_for_processing_items() -> None:
    async def main() -> None:
        q: WorkQueue[str] = WorkQueue()
        q.add("a")
        q.add("b")
        a, b = await q.get(), await q.get()
        drain = asyncio.create_task(q.shutdown_with_drain())
        await _step()
        q.done(a)
        await _step()
        assert not drain.done()
        q.done(b)
        await _step()
        assert drain.done()

    run_virtual(main())


def test_shutdown_ends_a_pending_drain() -> None:
    async def main() -> None:
        q: WorkQueue[str] = WorkQueue()
        q.add("a")
        await q.get()
        drain = asyncio.create_task(q.shutdown_with_drain())
        await _step()
        assert not drain.done()
        q.shutdown()
        await _step()
        assert drain.done()

    run_virtual(main())


def test_add_after_is_not_ready_before_its_time() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        q: DelayingQueue[str] = DelayingQueue()
        start = loop.time()
        q.add_after("a", 2.0)
        assert len(q) == 0
        assert await q.get() == "a"
        assert loop.time() - start == pytest.approx(2.0)

    run_virtual(main())


def test_add_after_keeps_the_earliest_ready_time() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        q: DelayingQueue[str] = DelayingQueue()
        start = loop.time()
        q.add_after("a", 5.0)
        q.add_after("a", 1.0)  # earlier: replaces
        q.add_after("a", 3.0)  # later: ignored
        assert await q.get() == "a"
        assert loop.time() - start == pytest.approx(1.0)
        q.done("a")
        await asyncio.sleep(10)
        assert len(q) == 0, "the replaced and ignored delays must not fire later"

    run_virtual(main())


def test_add_after_with_non_positive_delay_adds_now() -> None:
    async def main() -> None:
        q: DelayingQueue[str] = DelayingQueue()
        q.add_after("a", 0)
        q.add_after("b", -1)
        assert len(q) == 2

    run_virtual(main())


def test_shutdown_drops_waiting_items() -> None:
    async def main() -> None:
        q: DelayingQueue[str] = DelayingQueue()
        q.add_after("a", 1.0)
        q.shutdown()
        q.add_after("b", 0)
        await asyncio.sleep(2)
        assert len(q) == 0
        with pytest.raises(QueueShutDown):
            await q.get()

    run_virtual(main())


async def test_add_first_is_handed_out_before_plain_adds_each_lane_in_order() -> None:
    q: WorkQueue[str] = WorkQueue()
    for key in ("a", "b", "c"):
        q.add(key)
    q.add_first("x")
    q.add_first("b")  # queued already: moved to the first lane, not duplicated
    q.add_first("x")  # no-op
    assert len(q) == 4
    assert [await q.get() for _ in range(4)] == ["x", "b", "a", "c"]


async def test_add_first_while_processing_requeues_it_first_when_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    held = await q.get()
    q.add("b")
    q.add_first(held)  # being processed: marked dirty, to go first once done
    q.done(held)
    assert [await q.get(), await q.get()] == ["a", "b"]


async def test_urgent_items_take_the_first_lane_on_every_add() -> None:
    started: set[str] = set()
    q: DelayingQueue[str] = DelayingQueue(urgent=started.__contains__)
    for key in ("a", "b", "c"):
        q.add(key)
    started.add("c")
    q.add("c")  # queued in the normal lane: its state changed, it moves to the first
    q.add_after("d", 0.01)
    started.add("d")
    await asyncio.sleep(0.05)  # a delayed add is judged when it lands
    assert len(q) == 4
    assert [await q.get() for _ in range(4)] == ["c", "d", "a", "b"]
