"""Orders this leader created in its current term and has not yet asked ZeroSSL to create a
certificate for: for those, and only those, no certificate can exist at ZeroSSL, so the first
create needs neither a search nor a status write ahead of it.

Invariants: one instance per leadership term (a new leader, or this process after a restart,
knows no order as fresh, so it searches before creating); an order is fresh only under the uid
its create returned; ``forget`` drops it before the create call, so a create that failed
or whose answer was lost is followed by a search. A reconcile of an order whose create is still
in flight waits (bounded) for it to settle, so an order is not taken for old just because its
watch event overtook the create's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

SETTLE_WAIT = 5.0  # seconds a reconcile waits for this replica's create of the same order


class FreshOrders:
    def __init__(self) -> None:
        self._uids: dict[str, str] = {}  # order key -> uid its create returned
        self._creating: dict[str, asyncio.Event] = {}

    @contextlib.contextmanager
    def creating(self, key: str) -> Iterator[None]:
        """Around the create call of the order ``key``; :meth:`created` inside it."""
        settled = self._creating[key] = asyncio.Event()
        try:
            yield
        finally:
            if self._creating.get(key) is settled:
                del self._creating[key]
            settled.set()

    def created(self, key: str, uid: str) -> None:
        self._uids[key] = uid

    async def settled(self, key: str) -> None:
        """Returns once no create of ``key`` is in flight here (or after :data:`SETTLE_WAIT`)."""
        pending = self._creating.get(key)
        if pending is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pending.wait(), SETTLE_WAIT)

    def is_fresh(self, key: str, uid: str) -> bool:
        return self._uids.get(key) == uid

    def forget(self, key: str) -> None:
        """A create of ``key``'s certificate is about to be sent, or the order is gone: it is
        fresh no more."""
        self._uids.pop(key, None)
