"""An injectable clock: monotonic seconds for intervals, aware UTC datetimes for timestamps.

Invariant: code that measures durations uses ``monotonic()``; code that writes timestamps to
objects uses ``now()``, which is always timezone-aware UTC. Tests substitute :class:`FakeClock`.
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._mono = 1000.0

    def monotonic(self) -> float:
        return self._mono

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        self._now += timedelta(seconds=seconds)


@functools.lru_cache(maxsize=4096)
def rfc3339(moment: datetime) -> str:
    """Kubernetes Time: second precision, UTC, 'Z' suffix. Memoized: a status is written out
    again on every decision, with mostly the same timestamps (2% of a 1k backlog profile)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(moment: datetime) -> str:
    """Kubernetes MicroTime: microsecond precision, UTC, 'Z' suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@functools.lru_cache(maxsize=4096)
def parse_rfc3339(text: str) -> datetime:
    """Parses Time and MicroTime strings into aware UTC datetimes (memoized, as :func:`rfc3339`:
    the result is immutable)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
