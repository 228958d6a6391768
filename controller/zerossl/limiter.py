"""Client-side rate limiting per ZeroSSL account, shared by every worker using the same key.

Invariants:
- One :class:`AccountLimiter` per API key, found and named by :func:`account_id` of the key
  (the key itself is never stored here): that fingerprint, never the key, labels the metrics,
  the same whichever issuer uses the key first and across restarts.
- Over any window of length t at most ``rate * t + burst`` acquisitions complete, pauses
  included: a pause stops the refill (``TokenBucket.pause_until``), tokens saved before it are
  spent when it ends and calls queued during it are spread out after it.
- Tokens go to FINISH calls before START calls (:mod:`controller.zerossl.priority`), in arrival
  order within a priority, through a :class:`SlotScheduler`.
- ``throttle`` (HTTP 429 or Retry-After) pauses the whole account; waiting is cancellable
  and a cancelled waiter returns its token; every wait is observed in
  ``zerossl_limiter_wait_seconds{account,priority}``.
"""

from __future__ import annotations

import asyncio
import hashlib

from controller.clock import Clock, SystemClock
from controller.observability import metrics
from controller.tokenbucket import TokenBucket
from controller.zerossl.priority import Priority
from controller.zerossl.scheduler import Sleep, SlotScheduler

DEFAULT_PAUSE = 5.0  # a 429 without Retry-After
MAX_PAUSE = 900.0  # a Retry-After of a day must not stop issuance for a day


def account_id(access_key: str) -> str:
    """A stable, non-reversible identifier of an API key: the first 16 hex digits of the
    SHA-256 of its UTF-8 bytes (``printf %s "$KEY" | sha256sum | cut -c1-16``)."""
    return hashlib.sha256(access_key.encode()).hexdigest()[:16]


class AccountLimiter:
    """The token bucket of one ZeroSSL account, its tokens handed out by priority."""

    def __init__(
        self,
        name: str,
        rate: float,
        burst: int,
        *,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        default_pause: float = DEFAULT_PAUSE,
        max_pause: float = MAX_PAUSE,
    ) -> None:
        self.name = name
        self._clock = clock
        self._default_pause = default_pause
        self._max_pause = max_pause
        self._bucket = TokenBucket(rate, burst, clock.monotonic)
        self._slots = SlotScheduler(self._bucket, clock.monotonic, sleep)
        self._wait = {
            p: metrics.zerossl_limiter_wait.labels(account=name, priority=p.label) for p in Priority
        }
        self._tokens = metrics.zerossl_limiter_tokens.labels(account=name)
        self._throttled = metrics.zerossl_throttled.labels(account=name)
        self._tokens.set(burst)

    async def acquire(self, priority: Priority) -> float:
        """Waits for this account's next slot; returns the seconds waited. Cancellable."""
        waited = await self._slots.acquire(priority)
        self._wait[priority].observe(waited)
        self._tokens.set(self._bucket.tokens())
        return waited

    def throttle(self, retry_after: float | None = None) -> float:
        """Pauses the account for ``retry_after`` seconds (a default if None, capped).

        Returns the pause applied. Pauses only ever extend, never shorten.
        """
        pause = self._default_pause if retry_after is None else retry_after
        pause = min(max(pause, 0.0), self._max_pause)
        self._bucket.pause_until(self._clock.monotonic() + pause)
        self._throttled.inc()
        return pause

    def paused_for(self) -> float:
        """Seconds until the current pause ends (0 when not paused)."""
        return self._bucket.paused_for()


class LimiterRegistry:
    """Every account's limiter, created on first use with the configured rate and burst."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        default_pause: float = DEFAULT_PAUSE,
        max_pause: float = MAX_PAUSE,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("ZeroSSL rate must be > 0 and burst >= 1")
        self._rate = rate
        self._burst = burst
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._default_pause = default_pause
        self._max_pause = max_pause
        self._accounts: dict[str, AccountLimiter] = {}

    def for_account(self, access_key: str) -> AccountLimiter:
        """The limiter of the account behind ``access_key``, named by its ``account_id``."""
        if not access_key:
            raise ValueError("a ZeroSSL API key is required")
        key_id = account_id(access_key)
        limiter = self._accounts.get(key_id)
        if limiter is None:
            limiter = AccountLimiter(
                key_id,
                self._rate,
                self._burst,
                clock=self._clock,
                sleep=self._sleep,
                default_pause=self._default_pause,
                max_pause=self._max_pause,
            )
            self._accounts[key_id] = limiter
        return limiter
