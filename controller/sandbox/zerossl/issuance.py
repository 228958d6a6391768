"""Asynchronous issuance: certificates accepted for issuance wait a drawn delay (or until released
when held) and are then handed to the issue callback, one at a time, on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

_YIELD_EVERY = 32
"""Issue at most this many certificates between two yields to the event loop."""


@dataclass(frozen=True, slots=True)
class IssuanceDelay:
    """Seconds from acceptance to issuance, uniform in [low, high] (low == high: fixed)."""

    low: float = 0.0
    high: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.low <= self.high:
            raise ValueError(f"issuance delay needs 0 <= low <= high, got {self.low}..{self.high}")

    @classmethod
    def parse(cls, spec: str) -> IssuanceDelay:
        """``zero`` | ``SECONDS`` | ``fixed:SECONDS`` | ``uniform:LOW:HIGH``."""
        kind, _, rest = spec.strip().partition(":")
        try:
            if kind == "zero" and not rest:
                return cls()
            if kind == "fixed":
                return cls(float(rest), float(rest))
            if kind == "uniform":
                low, high = rest.split(":")
                return cls(float(low), float(high))
            if not rest:
                return cls(float(kind), float(kind))
        except ValueError as exc:
            raise ValueError(f"bad issuance delay {spec!r}: {exc}") from exc
        raise ValueError(f"bad issuance delay {spec!r}: expected zero, S, fixed:S or uniform:A:B")

    def sample(self, rng: random.Random) -> float:
        return self.low if self.low == self.high else rng.uniform(self.low, self.high)


class IssuanceQueue:
    """Due times in a heap plus a held set. :meth:`run` is the only consumer; scheduling and
    releasing are synchronous and wake it. ``issue`` must tolerate ids no longer pending."""

    def __init__(self, issue: Callable[[str], None]) -> None:
        self._issue = issue
        self._heap: list[tuple[float, int, str]] = []
        self._held: set[str] = set()
        self._seq = 0
        self._wakeup = asyncio.Event()

    @property
    def held(self) -> frozenset[str]:
        return frozenset(self._held)

    def schedule(self, certificate_id: str, delay: float, *, hold: bool) -> None:
        if hold:
            self._held.add(certificate_id)
            return
        self._seq += 1
        due = asyncio.get_running_loop().time() + delay
        heapq.heappush(self._heap, (due, self._seq, certificate_id))
        self._wakeup.set()

    def release(self, certificate_id: str) -> bool:
        """Issue a held certificate now; False when it was not held."""
        if certificate_id not in self._held:
            return False
        self._held.discard(certificate_id)
        self.schedule(certificate_id, 0.0, hold=False)
        return True

    def discard(self, certificate_id: str) -> None:
        """Stop holding a certificate that left ``pending_validation``."""
        self._held.discard(certificate_id)

    def release_all(self) -> int:
        released = sorted(self._held)
        for certificate_id in released:
            self.release(certificate_id)
        return len(released)

    async def run(self) -> NoReturn:
        loop = asyncio.get_running_loop()
        while True:
            issued = 0
            while self._heap and self._heap[0][0] <= loop.time():
                self._issue(heapq.heappop(self._heap)[2])
                issued += 1
                if issued % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            self._wakeup.clear()
            timeout = self._heap[0][0] - loop.time() if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)
