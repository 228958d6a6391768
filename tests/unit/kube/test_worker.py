"""The worker pool: result handling, exclusivity per key, failures, timeouts, stop and cancel."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import defaultdict

import pytest
from prometheus_client import REGISTRY

from controller.kube.worker import DONE, Done, RequeueAfter, Result, Retry, WorkerPool
from controller.kube.workqueue import ItemExponentialFailureRateLimiter, RateLimitingQueue
from controller.observability.metrics import KUBE_METRICS
from controller.observability.redact import register_secret
from tests.support.virtual_loop import run_virtual

_names = itertools.count()


def make_queue() -> RateLimitingQueue[str]:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(1.0, 60)
    return RateLimitingQueue(limiter)


def fresh_name() -> str:
    return f"test-controller-{next(_names)}"


def outcome(controller: str, result: str) -> float:
    value = REGISTRY.get_sample_value(
        "zerossl_issuer_reconcile_total", {"controller": controller, "result": result}
    )
    return 0.0 if value is None else value


async def run_until(pool: WorkerPool[str], condition: asyncio.Event, limit: float) -> None:
    """Runs the pool until ``condition`` is set, then stops it gracefully."""
    async with asyncio.TaskGroup() as tg:
        tg.create_task(pool.run())
        async with asyncio.timeout(limit):
            await condition.wait()
        await pool.stop()


def test_results_map_to_forget_requeue_and_backoff() -> None:
    name = fresh_name()
    script: list[Result] = [Retry("no"), Retry("still no"), RequeueAfter(30), Retry("again"), DONE]

    async def main() -> list[tuple[float, int]]:
        loop = asyncio.get_running_loop()
        q = make_queue()
        seen: list[tuple[float, int]] = []
        finished = asyncio.Event()

        async def reconcile(key: str) -> Result:
            seen.append((loop.time(), q.num_requeues(key)))
            result = script[len(seen) - 1]
            if isinstance(result, Done):
                finished.set()
            return result

        q.add("ns/a")
        await run_until(WorkerPool(name, q, reconcile, metrics=KUBE_METRICS), finished, limit=100)
        assert q.num_requeues("ns/a") == 0
        return seen

    # Backoff 1 s then 2 s; RequeueAfter forgets the failures and waits exactly 30 s; the
    # backoff restarts at 1 s; Done forgets again.
    assert run_virtual(main()) == [(0.0, 0), (1.0, 1), (3.0, 2), (33.0, 0), (34.0, 1)]
    assert outcome(name, "error") == 3
    assert outcome(name, "requeue") == 1
    assert outcome(name, "done") == 1
    count = REGISTRY.get_sample_value(
        "zerossl_issuer_reconcile_duration_seconds_count", {"controller": name}
    )
    assert count == 5


def test_a_key_is_never_reconciled_twice_at_once_but_keys_run_in_parallel() -> None:
    async def main() -> tuple[int, dict[str, int]]:
        q = make_queue()
        active: set[str] = set()
        peak = 0
        runs: dict[str, int] = defaultdict(int)
        finished = asyncio.Event()

        async def reconcile(key: str) -> Result:
            nonlocal peak
            assert key not in active, f"{key} reconciled concurrently"
            active.add(key)
            peak = max(peak, len(active))
            q.add(key)  # an update arriving mid-reconcile
            await asyncio.sleep(1)
            active.discard(key)
            runs[key] += 1
            if sum(runs.values()) >= 12:
                finished.set()
            return DONE

        for key in "abcd":
            q.add(key)
        await run_until(WorkerPool(fresh_name(), q, reconcile, workers=3), finished, limit=60)
        return peak, dict(runs)

    peak, runs = run_virtual(main())
    assert peak == 3
    assert set(runs) == set("abcd")


def test_an_exception_is_logged_redacted_and_retried_without_killing_the_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "sk-live-0123456789abcdef"
    register_secret(secret)
    name = fresh_name()

    async def main() -> int:
        q = make_queue()
        calls = 0
        finished = asyncio.Event()

        async def reconcile(key: str) -> Result:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError(f"GET https://api.zerossl.com/x?access_key={secret} failed")
            finished.set()
            return DONE

        q.add("ns/cr")
        await run_until(WorkerPool(name, q, reconcile, metrics=KUBE_METRICS), finished, limit=10)
        return calls

    with caplog.at_level(logging.WARNING, logger="controller.kube.worker"):
        assert run_virtual(main()) == 2
    messages = [r.getMessage() for r in caplog.records]
    assert any("ns/cr" in m and "RuntimeError" in m for m in messages), messages
    assert all(secret not in m for m in messages)
    assert outcome(name, "error") == 1


def test_reconcile_timeout_is_a_retry() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        q = make_queue()
        starts: list[float] = []
        finished = asyncio.Event()

        async def reconcile(key: str) -> Result:
            starts.append(loop.time())
            if len(starts) == 1:
                await asyncio.sleep(3600)
            finished.set()
            return DONE

        q.add("k")
        pool = WorkerPool(fresh_name(), q, reconcile, reconcile_timeout=5)
        await run_until(pool, finished, limit=60)
        return starts

    assert run_virtual(main()) == [0.0, 6.0]  # 5 s timeout, then 1 s backoff


def test_stop_drains_in_flight_reconciles_and_takes_no_new_keys() -> None:
    async def main() -> list[str]:
        q = make_queue()
        completed: list[str] = []
        started = asyncio.Event()

        async def reconcile(key: str) -> Result:
            started.set()
            await asyncio.sleep(10)
            completed.append(key)
            return DONE

        for key in "abc":
            q.add(key)
        pool = WorkerPool(fresh_name(), q, reconcile, workers=1, drain_timeout=60)
        async with asyncio.TaskGroup() as tg:
            runner = tg.create_task(pool.run())
            await started.wait()
            await pool.stop()
            assert completed == ["a"]
            await asyncio.wait_for(runner, timeout=1)
        return completed

    assert run_virtual(main()) == ["a"]


def test_stop_cancels_reconciles_that_outlive_the_drain_timeout() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        q = make_queue()
        started = asyncio.Event()
        cancelled = asyncio.Event()

        async def reconcile(key: str) -> Result:
            started.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return DONE

        q.add("stuck")
        pool = WorkerPool(fresh_name(), q, reconcile, drain_timeout=2)
        async with asyncio.TaskGroup() as tg:
            runner = tg.create_task(pool.run())
            await started.wait()
            begun = loop.time()
            await pool.stop()
            await asyncio.wait_for(runner, timeout=1)
            assert loop.time() - begun == pytest.approx(2)
        assert cancelled.is_set()

    run_virtual(main())


def test_cancelling_run_propagates_and_releases_the_key() -> None:
    async def main() -> None:
        q = make_queue()
        started = asyncio.Event()

        async def reconcile(key: str) -> Result:
            started.set()
            await asyncio.sleep(3600)
            return DONE

        q.add("k")
        runner = asyncio.create_task(WorkerPool(fresh_name(), q, reconcile).run())
        await started.wait()
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
        q.add("k")
        assert len(q) == 1, "the cancelled reconcile must still mark its key done"

    run_virtual(main())


def test_run_returns_when_the_queue_shuts_down() -> None:
    async def main() -> None:
        q = make_queue()

        async def reconcile(key: str) -> Result:
            return DONE

        runner = asyncio.create_task(WorkerPool(fresh_name(), q, reconcile, workers=4).run())
        await asyncio.sleep(1)
        q.shutdown()
        await asyncio.wait_for(runner, timeout=1)

    run_virtual(main())


@pytest.mark.parametrize("seconds", [0, -1, float("inf"), float("nan")])
def test_requeue_after_needs_a_finite_positive_delay(seconds: float) -> None:
    with pytest.raises(ValueError, match="finite positive"):
        RequeueAfter(seconds)


def test_pool_rejects_bad_settings() -> None:
    async def reconcile(key: str) -> Result:
        return DONE

    with pytest.raises(ValueError, match="at least one worker"):
        WorkerPool("x", make_queue(), reconcile, workers=0)
    with pytest.raises(ValueError, match="reconcile_timeout"):
        WorkerPool("x", make_queue(), reconcile, reconcile_timeout=0)


def test_each_retry_is_one_line_with_the_next_attempt_and_the_traceback_once_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = fresh_name()

    async def main() -> None:
        q = make_queue()  # backoff 1 s, doubling
        calls = 0
        finished = asyncio.Event()

        async def reconcile(key: str) -> Result:
            nonlocal calls
            calls += 1
            if calls <= 3:
                raise RuntimeError("the API server is down")
            finished.set()
            return DONE

        q.add("ns/cr")
        await run_until(WorkerPool(name, q, reconcile), finished, limit=30)

    with caplog.at_level(logging.DEBUG, logger="controller.kube.worker"):
        run_virtual(main())
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        f"{name}: reconcile of ns/cr failed (attempt {n}), next attempt in {delay}s: "
        "RuntimeError: the API server is down"
        for n, delay in ((1, 1), (2, 2), (3, 4))
    ]
    assert all(r.exc_info is None for r in warnings)
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert [r.levelno for r in tracebacks] == [logging.DEBUG]
