"""Bounded polling: the one way the stack waits for the cluster to reach a state."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

T = TypeVar("T")

INTERVAL: Final = 0.1


async def poll(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,
    describe: Callable[[], str],
    interval: float = INTERVAL,
) -> T:
    """The first non-None result of ``probe``, called every ``interval`` seconds; after
    ``timeout`` a TimeoutError whose message is ``describe()`` (say what was expected and what
    was last seen). Exceptions from ``probe`` propagate at once."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = await probe()
                if result is not None:
                    return result
                await asyncio.sleep(interval)
    except TimeoutError:
        raise TimeoutError(f"gave up after {timeout}s: {describe()}") from None
