"""A virtual-time driver: an injected clock and sleep that jump straight to the next wake-up."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

from controller.clock import FakeClock


class VirtualTime:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self.clock.monotonic()

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now() + max(delay, 0.0), next(self._order), future))
        await future

    async def _settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    async def run(self, timeline: list[tuple[float, Callable[[], None]]]) -> None:
        """Runs ``(absolute time, action)`` events and sleepers in time order until idle."""
        events = sorted(timeline, key=lambda e: e[0])
        index = 0
        while True:
            await self._settle()
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)  # cancelled sleepers
            times = [self._sleepers[0][0]] if self._sleepers else []
            if index < len(events):
                times.append(events[index][0])
            if not times:
                return
            target = min(times)
            if target > self.now():
                self.clock.advance(target - self.now())
            while self._sleepers and self._sleepers[0][0] <= self.now():
                _, _, future = heapq.heappop(self._sleepers)
                if not future.done():
                    future.set_result(None)
            while index < len(events) and events[index][0] <= self.now():
                events[index][1]()
                index += 1
