"""Hands a token bucket's next free slot to the waiting call of highest priority.

A reserving bucket books a slot when a call arrives, so a later call of higher priority could
never go before it; here calls wait in a queue per priority and take a token only when the
bucket has one.

Invariants:
- Tokens are taken only when the bucket holds one (never booked ahead) and not while it is
  paused, so the bucket's bound holds: at most ``rate * t + burst`` grants in any window t.
- Each free token goes to the longest-waiting FINISH call, else the longest-waiting START call;
  a START call that has waited ``aging`` seconds is served by arrival with the FINISH calls.
  So calls of one priority are served in arrival order, and a START call waits at most
  ``aging``, plus pauses, plus the FINISH calls that arrived before it.
- A call arriving when nobody waits and a token is there takes it at once, without yielding.
- A grant is made for the present instant, so a pause begun after it does not cover it.
- A waiter cancelled before its grant took nothing; one cancelled between its grant and
  resuming gives the token back under ``TokenBucket.cancel_reservation``'s rule.
- One dispatcher task runs while calls wait, sleeping through the injected ``sleep``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from controller.tokenbucket import TokenBucket
from controller.zerossl.priority import Priority

Sleep = Callable[[float], Awaitable[None]]

AGING = 60.0  # seconds; far above a START call's wait under normal load
EPSILON = 1e-9  # tokens: a shortfall this small is rounding, not a reason to sleep


@dataclass(frozen=True, slots=True)
class _Waiter:
    seq: int  # arrival order
    arrived: float
    grant: asyncio.Future[float]  # the monotonic time of the grant; cancelled: left the queue


class SlotScheduler:
    """Priority order in front of one :class:`TokenBucket` (pauses go to the bucket)."""

    def __init__(
        self,
        bucket: TokenBucket,
        clock: Callable[[], float],
        sleep: Sleep = asyncio.sleep,
        *,
        aging: float = AGING,
    ) -> None:
        self._bucket = bucket
        self._clock = clock
        self._sleep = sleep
        self._aging = aging
        self._queues: dict[Priority, deque[_Waiter]] = {p: deque() for p in Priority}
        self._waiting = 0  # waiters neither granted nor cancelled
        self._seq = itertools.count()
        self._dispatcher: asyncio.Task[None] | None = None

    async def acquire(self, priority: Priority) -> float:
        """Waits for a token; returns the seconds waited. Cancellable."""
        start = self._clock()
        if not self._waiting and self._delay() <= 0:
            self._bucket.reserve()
            return 0.0
        waiter = _Waiter(next(self._seq), start, asyncio.get_running_loop().create_future())
        self._enqueue(priority, waiter)
        try:
            await waiter.grant
        except asyncio.CancelledError:
            self._leave(waiter)
            raise
        return self._clock() - start

    def _enqueue(self, priority: Priority, waiter: _Waiter) -> None:
        self._queues[priority].append(waiter)
        self._waiting += 1
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())

    def _leave(self, waiter: _Waiter) -> None:
        if waiter.grant.cancelled():  # still queued: skipped when it reaches the front
            self._waiting -= 1
            if not self._waiting and self._dispatcher is not None:
                self._dispatcher.cancel()
                self._dispatcher = None
                for queue in self._queues.values():
                    queue.clear()  # only cancelled waiters are left
        else:
            self._bucket.cancel_reservation(waiter.grant.result())

    def _delay(self) -> float:
        """Seconds until the bucket can give a token (0: now)."""
        paused, tokens = self._bucket.paused_for(), self._bucket.tokens()
        if paused <= 0 and tokens >= 1.0 - EPSILON:
            return 0.0
        return paused + max(0.0, 1.0 - tokens) / self._bucket.rate

    async def _dispatch(self) -> None:
        while self._waiting:
            delay = self._delay()
            if delay > 0:
                await self._sleep(delay)
                continue
            waiter = self._next()
            self._bucket.reserve()
            self._waiting -= 1
            waiter.grant.set_result(self._clock())

    def _next(self) -> _Waiter:
        """Pops the waiter the next token goes to (there is one)."""
        for queue in self._queues.values():
            while queue and queue[0].grant.cancelled():
                queue.popleft()
        finish, start = self._queues[Priority.FINISH], self._queues[Priority.START]
        if start and (
            not finish
            or (start[0].seq < finish[0].seq and self._clock() - start[0].arrived >= self._aging)
        ):
            return start.popleft()
        return finish.popleft()
