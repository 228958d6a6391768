"""DeferredStatuses: an order's unwritten status, handed back only onto the resourceVersion it
was folded onto, due after ``max_age`` (its order woken), at once when hurried, gone with its
order and with the term."""

from __future__ import annotations

import asyncio
from typing import Any

from controller.clock import FakeClock
from controller.issuer.controllers.deferred import DeferredStatuses

KEY = "default/www"


def order(version: str, reason: str = "WaitingForIssuance") -> dict[str, Any]:
    return {
        "metadata": {"namespace": "default", "name": "www", "resourceVersion": version},
        "status": {"conditions": [{"type": "Ready", "reason": reason}]},
    }


def statuses(clock: FakeClock, woken: list[str], max_age: float = 30.0) -> DeferredStatuses:
    return DeferredStatuses(max_age, clock, woken.append)


async def test_kept_status_is_handed_back_onto_its_resource_version_once() -> None:
    clock, woken = FakeClock(), []
    deferred = statuses(clock, woken)
    kept = order("7")

    assert deferred.keep(KEY, kept, clock.monotonic())
    taken = deferred.take(KEY, order("7", reason="Presenting"))

    assert taken is not None
    assert taken.obj is kept
    assert taken.since == clock.monotonic()
    assert deferred.take(KEY, order("7")) is None
    assert woken == []


async def test_a_foreign_write_drops_it() -> None:
    clock, woken = FakeClock(), []
    deferred = statuses(clock, woken)
    deferred.keep(KEY, order("7"), clock.monotonic())

    assert deferred.take(KEY, order("8", reason="Presenting")) is None
    assert deferred.take(KEY, order("7")) is None
    assert len(deferred) == 0


async def test_it_is_not_kept_once_max_age_has_passed_since_its_first_deferral() -> None:
    clock, woken = FakeClock(), []
    deferred = statuses(clock, woken)
    first = clock.monotonic()
    assert deferred.keep(KEY, order("7"), first)
    clock.advance(29)
    taken = deferred.take(KEY, order("7"))
    assert taken is not None
    assert deferred.keep(KEY, taken.obj, taken.since)  # still within max_age of the first
    clock.advance(1)
    taken = deferred.take(KEY, order("7"))
    assert taken is not None

    assert not deferred.keep(KEY, taken.obj, taken.since)
    assert len(deferred) == 0


async def test_its_order_is_woken_when_it_is_due() -> None:
    clock, woken = FakeClock(), []
    due = asyncio.Event()
    deferred = DeferredStatuses(0.001, clock, lambda key: (woken.append(key), due.set()))

    deferred.keep(KEY, order("7"), clock.monotonic())
    await asyncio.wait_for(due.wait(), timeout=10)

    assert woken == [KEY]
    assert len(deferred) == 1  # the reconcile it wakes writes it


async def test_a_taken_or_forgotten_status_wakes_nobody() -> None:
    clock, woken = FakeClock(), []
    deferred = statuses(clock, woken, max_age=0.001)
    deferred.keep(KEY, order("7"), clock.monotonic())
    deferred.take(KEY, order("7"))
    deferred.keep("default/other", order("3"), clock.monotonic())
    deferred.forget("default/other")

    await asyncio.sleep(0.01)  # past the 1 ms timers: they fire first if they are still set

    assert woken == []


async def test_hurried_it_is_due_at_once() -> None:
    clock, woken = FakeClock(), []
    deferred = statuses(clock, woken)
    deferred.keep(KEY, order("7"), clock.monotonic())

    deferred.hurry(KEY)
    deferred.hurry("default/none")

    assert woken == [KEY]
    taken = deferred.take(KEY, order("7"))
    assert taken is not None
    assert not deferred.keep(KEY, taken.obj, taken.since)


async def test_the_term_ending_drops_everything() -> None:
    clock, woken = FakeClock(), []
    deferred = statuses(clock, woken, max_age=0.001)
    deferred.keep(KEY, order("7"), clock.monotonic())

    deferred.close()
    await asyncio.sleep(0.01)

    assert deferred.take(KEY, order("7")) is None
    assert woken == []
