"""The workqueue_* metrics follow client-go's hook semantics; unnamed queues export nothing."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from prometheus_client import REGISTRY

from controller.kube.workqueue import DelayingQueue, WorkQueue
from controller.observability.metrics import KUBE_METRICS
from tests.support.virtual_loop import run_virtual

_names = itertools.count()


def fresh_name() -> str:
    return f"test-queue-{next(_names)}"


def sample(metric: str, name: str) -> float:
    value = REGISTRY.get_sample_value(metric, {"name": name})
    return 0.0 if value is None else value


def family_total(metric: str) -> float:
    return sum(s.value for family in REGISTRY.collect() for s in family.samples if s.name == metric)


def test_adds_depth_latency_and_work_duration() -> None:
    name = fresh_name()

    async def main() -> None:
        q: WorkQueue[str] = WorkQueue(name, metrics=KUBE_METRICS)
        q.add("a")
        q.add("a")  # deduplicated: not counted
        q.add("b")
        assert sample("workqueue_adds_total", name) == 2
        assert sample("workqueue_depth", name) == 2
        await asyncio.sleep(0.25)
        item = await q.get()
        assert sample("workqueue_depth", name) == 1
        assert sample("workqueue_queue_duration_seconds_count", name) == 1
        assert sample("workqueue_queue_duration_seconds_sum", name) == pytest.approx(0.25)
        q.add(item)  # re-added while processing: counted, waits for done
        assert sample("workqueue_adds_total", name) == 3
        assert sample("workqueue_depth", name) == 2
        await asyncio.sleep(1.5)
        q.done(item)
        assert sample("workqueue_work_duration_seconds_count", name) == 1
        assert sample("workqueue_work_duration_seconds_sum", name) == pytest.approx(1.5)

    run_virtual(main())


def test_add_after_always_counts_a_retry() -> None:
    name = fresh_name()

    async def main() -> None:
        q: DelayingQueue[str] = DelayingQueue(name, metrics=KUBE_METRICS)
        q.add_after("a", 1.0)
        q.add_after("a", 2.0)  # merged into the earlier one, still a retry
        q.add_after("b", 0)
        assert sample("workqueue_retries_total", name) == 3
        assert sample("workqueue_adds_total", name) == 1
        q.shutdown()
        q.add_after("c", 1.0)
        assert sample("workqueue_retries_total", name) == 3

    run_virtual(main())


def test_run_refreshes_unfinished_work_and_ends_after_shutdown() -> None:
    name = fresh_name()

    async def main() -> None:
        q: WorkQueue[str] = WorkQueue(name, metrics=KUBE_METRICS)
        housekeeping = asyncio.create_task(q.run())
        q.add("a")
        q.add("b")
        a = await q.get()
        await asyncio.sleep(1.0)
        b = await q.get()
        await asyncio.sleep(2.0)
        # Last refresh at t in [2.5, 3]: a has run t seconds, b t - 1 seconds.
        assert 4.0 - 1e-9 <= sample("workqueue_unfinished_work_seconds", name) <= 5.0
        assert 2.5 - 1e-9 <= sample("workqueue_longest_running_processor_seconds", name) <= 3.0
        q.shutdown()
        await asyncio.sleep(1.0)
        assert not housekeeping.done(), "must keep running while items are processed"
        q.done(a)
        q.done(b)
        await asyncio.wait_for(housekeeping, timeout=0.1)
        assert sample("workqueue_unfinished_work_seconds", name) == 0
        assert sample("workqueue_longest_running_processor_seconds", name) == 0

    run_virtual(main())


def test_unnamed_queue_exports_nothing() -> None:
    async def main() -> None:
        q: DelayingQueue[str] = DelayingQueue()
        q.add("a")
        q.add_after("b", 0.5)
        await q.get()
        await q.get()

    before = family_total("workqueue_adds_total"), family_total("workqueue_retries_total")
    run_virtual(main())
    after = family_total("workqueue_adds_total"), family_total("workqueue_retries_total")
    assert after == before
