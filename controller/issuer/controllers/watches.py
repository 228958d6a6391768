"""What wakes a reconciler's objects: the watches each reconciler declares beside itself, and
how a replica connects them to its informers.

Invariants:
- A watch maps one informer's events to the keys it wakes, reading only the caches (an
  index, never a scan); an update wakes only when the resourceVersion changed.
- Watches enqueue only while this replica leads; becoming leader replays every cached object
  of the resync watches once (:meth:`Watches.resync`), yielding to the event loop every
  :data:`ENQUEUE_BATCH` objects so that Lease renewals are not held up, so nothing is missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from controller.kube.informer import CachedObject, DeletedFinalStateUnknown, HandlerFuncs, Informer

ENQUEUE_BATCH = 256  # objects queued between yields to the event loop on becoming leader

Wake = Callable[[CachedObject], None]


def deleted(item: CachedObject | DeletedFinalStateUnknown) -> CachedObject:
    """The last known state of a deleted object."""
    return item.obj if isinstance(item, DeletedFinalStateUnknown) else item


@dataclass(frozen=True, slots=True)
class Watch:
    """``wake(obj)`` enqueues what an event of ``informer`` about ``obj`` wakes.

    ``changes`` False: only deletions wake. ``resync``: on becoming leader, every cached object
    of the informer is passed to ``wake`` once.
    """

    informer: Informer
    wake: Wake
    changes: bool = True
    resync: bool = True


class Watches:
    """One replica's watches, registered on their informers (before the informers run)."""

    def __init__(self, watches: Iterable[Watch]) -> None:
        self.leading = False
        self._watches = tuple(watches)
        for watch in self._watches:
            watch.informer.add_handler(self._handler(watch))

    def _handler(self, watch: Watch) -> HandlerFuncs:
        def wake(obj: CachedObject) -> None:
            if self.leading:
                watch.wake(obj)

        def changed(old: CachedObject, new: CachedObject) -> None:
            if old.resource_version != new.resource_version:
                wake(new)

        def gone(item: CachedObject | DeletedFinalStateUnknown) -> None:
            wake(deleted(item))

        if not watch.changes:
            return HandlerFuncs(delete=gone)
        return HandlerFuncs(add=wake, update=changed, delete=gone)

    async def resync(self) -> None:
        """Wakes every cached object of the resync watches once, yielding to the loop as it
        goes: with tens of thousands of cached objects, one synchronous pass would hold up
        Lease renewals."""
        for watch in self._watches:
            if not watch.resync:
                continue
            store = watch.informer.store
            for count, key in enumerate(store.list_keys(), 1):
                if self.leading and (obj := store.get_cached(key)) is not None:
                    watch.wake(obj)
                if count % ENQUEUE_BATCH == 0:
                    await asyncio.sleep(0)
