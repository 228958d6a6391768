"""A reserving token bucket (golang.org/x/time/rate semantics) for asyncio.

Invariants:
- Over any window of length t, at most ``rate * t + burst`` reservations are granted that
  complete inside the window: each reservation books the next free slot, so tokens may go
  negative and later callers wait longer (client-go's BucketRateLimiter behaviour).
- ``pause_until(t)`` (a server said "slow down") grants nothing before ``t`` and stops the
  refill until then: tokens saved before the pause are spent at ``t``, later slots are spaced
  at the rate, and the invariant above holds across pauses.
- A waiter cancelled before its slot gives back only the part of its token that no later
  booking relies on (golang's ``Reservation.Cancel`` rule); cancellation propagates.
- Time comes from the injected monotonic ``clock`` so tests can drive it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()  # the bucket's own time; ahead of the clock while paused
        self._last_slot = self._last  # when the latest booking may act

    def _advance(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
            self._last = now

    def tokens(self) -> float:
        """Tokens available now; negative when slots are booked ahead."""
        self._advance(self._clock())
        return self._tokens

    def reserve(self) -> float:
        """Books one token and returns how long the caller must wait before using it."""
        now = self._clock()
        self._advance(now)
        self._tokens -= 1.0
        delay = max(0.0, self._last - now) + max(0.0, -self._tokens) / self.rate
        self._last_slot = max(self._last_slot, now + delay)
        return delay

    def cancel_reservation(self, slot: float) -> None:
        """Returns the unused token of the booking that would have acted at ``slot``.

        Bookings made after it were spaced from it, so only the share of the token that
        they do not rely on comes back.
        """
        restore = 1.0 - (self._last_slot - slot) * self.rate
        if restore > 0:
            self._advance(self._clock())
            self._tokens = min(float(self.burst), self._tokens + restore)

    def pause_until(self, deadline: float) -> None:
        """No reservation completes before the monotonic time ``deadline``."""
        self._advance(self._clock())
        self._last = max(self._last, deadline)

    def paused_for(self) -> float:
        return max(0.0, self._last - self._clock())

    async def acquire(self) -> float:
        """Waits for one token; returns the seconds waited. Cancellable."""
        delay = self.reserve()
        if delay <= 0:
            return 0.0
        slot = self._clock() + delay
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            self.cancel_reservation(slot)
            raise
        return delay
