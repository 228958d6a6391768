"""Orders this leader created (or found existing) that its order cache does not show yet:
client-go's expectations, for one create per request.

The request reconciler runs again before the order informer shows the order it just created
(its own Pending write wakes it, and the request informer is often ahead of the order
informer); deciding from that cache it would create the order again and get 409
AlreadyExists. So it remembers each order it created until the cache shows it, and creates
nothing for a key it expects.

Invariants: one instance per leadership term (a new leader starts from synced caches and
expects nothing); an expectation ends when the cache shows the order (any order of that key:
the reconciler decides from it then), when the request is gone, or after
:data:`EXPECTATION_TTL` seconds, so an order deleted before its informer ever showed it is
created again; memory is one entry per order created and not yet seen.
"""

from __future__ import annotations

from controller.clock import Clock

EXPECTATION_TTL = 60.0  # seconds an order's create is trusted without the cache showing it


class CreatedOrders:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}  # order key -> monotonic time its expectation ends

    def created(self, key: str) -> None:
        """The order ``key`` exists at the API server (created, or found existing)."""
        self._until[key] = self._clock.monotonic() + EXPECTATION_TTL

    def awaited(self, key: str, cached: bool) -> float | None:
        """Seconds left to wait for the order ``key`` to show in the cache (``cached``: it
        does), or None when nothing is expected of it (any more)."""
        until = self._until.get(key)
        if until is None:
            return None
        left = until - self._clock.monotonic()
        if cached or left <= 0:
            del self._until[key]
            return None
        return left

    def forget(self, key: str) -> None:
        """The request is gone."""
        self._until.pop(key, None)
