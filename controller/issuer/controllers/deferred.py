"""Order statuses kept in memory instead of written: an outcome that is safe to redo (ZeroSSL
accepted the validation) waits for the next write that must happen (the certificate), which
carries it. Every write is read back by every replica's watches, so each one skipped counts
twice.

Invariants:
- An entry is the order object with the unwritten status folded in, stamped with the
  resourceVersion it was folded onto (its own metadata's). :meth:`take` hands it back only
  while the cache still shows that resourceVersion; a cache showing another one (someone else
  wrote the order, it is being deleted) drops it, and the order is decided from the cache.
- Losing an entry (a crash, a new term, a drop) loses only what is safe to redo: the next
  reconcile verifies again, ZeroSSL answers 2830 and the certificate is read back.
- An entry lives at most ``max_age`` seconds from its first deferral: then its order is woken
  and the next reconcile writes it (people see WaitingForIssuance while ZeroSSL takes its
  time). :meth:`hurry` makes it due at once (another order waits for what it says).
- One instance per leadership term (:meth:`close` at its end); an order's entry goes with it
  (:meth:`forget`). Memory: one order object per order waiting for issuance, ``max_age`` at most.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.clock import Clock


@dataclass(frozen=True, slots=True)
class Deferred:
    """An order object whose status is not written yet; ``since``: the clock's monotonic time
    of its first deferral."""

    obj: dict[str, Any]
    since: float


def _version(obj: Mapping[str, Any]) -> str | None:
    version = obj["metadata"].get("resourceVersion")
    return str(version) if version is not None else None


class DeferredStatuses:
    def __init__(self, max_age: float, clock: Clock, wake: Callable[[str], None]) -> None:
        """``wake(key)`` enqueues an order whose entry is due."""
        self._max_age = max_age
        self._clock = clock
        self._wake = wake
        self._held: dict[str, Deferred] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def __len__(self) -> int:
        return len(self._held)

    def take(self, key: str, cached: Mapping[str, Any]) -> Deferred | None:
        """Removes ``key``'s entry; it, if it was folded onto ``cached``'s resourceVersion."""
        deferred = self._held.pop(key, None)
        self._cancel(key)
        if deferred is None or _version(deferred.obj) != _version(cached):
            return None
        return deferred

    def keep(self, key: str, obj: dict[str, Any], since: float) -> bool:
        """Holds ``obj`` (its status unwritten) for ``key``, first deferred at ``since``; False,
        holding nothing, once that is ``max_age`` ago (the status is to be written now)."""
        left = since + self._max_age - self._clock.monotonic()
        self.forget(key)
        if left <= 0:
            return False
        deferred = self._held[key] = Deferred(obj, since)
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(left, self._due, key, deferred)
        return True

    def hurry(self, key: str) -> None:
        """``key``'s entry, if any, is due now: its order is woken to write it."""
        deferred = self._held.get(key)
        if deferred is None:
            return
        self._cancel(key)
        self._held[key] = Deferred(deferred.obj, self._clock.monotonic() - self._max_age)
        self._wake(key)

    def forget(self, key: str) -> None:
        self._held.pop(key, None)
        self._cancel(key)

    def close(self) -> None:
        """The term ended: every entry goes."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._held.clear()

    def _cancel(self, key: str) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def _due(self, key: str, deferred: Deferred) -> None:
        if self._held.get(key) is deferred:
            self._timers.pop(key, None)
            self._wake(key)
