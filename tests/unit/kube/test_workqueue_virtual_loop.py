"""Soundness of the virtual-time event loop (tests/support/virtual_loop.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.virtual_loop import run_virtual


def test_sleep_jumps_the_clock_without_waiting() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(3600)
        return loop.time()

    started = time.monotonic()
    assert run_virtual(main()) == pytest.approx(3600)
    assert time.monotonic() - started < 5


def test_timers_fire_in_order_at_their_times() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        fired: list[tuple[str, float]] = []
        for name, at in (("b", 2.0), ("a", 1.0), ("c", 3.5)):
            loop.call_at(at, lambda n=name: fired.append((n, loop.time())))
        await asyncio.sleep(5)
        return fired

    assert run_virtual(main()) == [("a", 1.0), ("b", 2.0), ("c", 3.5)]


def test_a_deadlock_raises_instead_of_hanging() -> None:
    async def main() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(RuntimeError, match="deadlock"):
        run_virtual(main())
