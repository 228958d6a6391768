"""Exponential backoff with jitter that forgets after a quiet period (client-go's reflector
backoff manager).

Invariant: wait n (counted since the last reset) is drawn from ``[d, d * (1 + jitter))`` with
``d = initial * factor**n``, and never exceeds ``cap``; when no wait was requested for
``reset_after`` seconds, the next wait starts again from ``initial`` (the server is presumed
healthy again).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable


class Backoff:
    def __init__(
        self,
        initial: float = 0.8,
        *,
        factor: float = 2.0,
        jitter: float = 1.0,
        cap: float = 30.0,
        reset_after: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or factor < 1 or jitter < 0 or cap < initial or reset_after <= 0:
            raise ValueError("need initial > 0, factor >= 1, jitter >= 0, cap >= initial")
        self.initial = initial
        self.factor = factor
        self.jitter = jitter
        self.cap = cap
        self.reset_after = reset_after
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
        self._duration = initial
        self._last: float | None = None

    def next(self) -> float:
        """The next wait in seconds; advances the sequence."""
        now = self._clock()
        if self._last is not None and now - self._last > self.reset_after:
            self._duration = self.initial
        self._last = now
        wait = self._duration * (1.0 + self.jitter * self._rng.random())
        self._duration = min(self._duration * self.factor, self.cap)
        return min(wait, self.cap)
