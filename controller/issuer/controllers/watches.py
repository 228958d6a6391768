"""What wakes a reconciler's objects: the watches each reconciler declares beside itself, and
how a replica connects them to its informers.

Invariants:
- A watch maps one informer's events to the keys it wakes, reading only the caches (an
  index, never a scan); an update wakes only when the resourceVersion changed.
- Watches enqueue only while this replica leads; becoming leader replays every cached object
  of the resync watches once (:meth:`Watches.resync`), yielding to the event loop every
  :data:`ENQUEUE_BATCH` objects so that Lease renewals are not held up, so nothing is missed.
- A watch may judge its events (``matters``, given the last cached and the new state): one
  judged not to matter wakes nothing. Deletions always wake.
- An echo wakes nothing: the add or update event of exactly the resourceVersion a reconciler
  wrote, when that reconcile already decided from the written object what comes next
  (:class:`OwnEchoes`). Any other event of the key, and every deletion, wakes as usual.
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


class OwnEchoes:
    """Per key, the resourceVersion of a reconciler's own last write whose watch event (its
    echo) needs to wake nothing: the reconcile that wrote it went on from the object the write
    returned, and whatever it waits for wakes the key by itself (a requeue, the poller).

    An expectation is consumed by the next add or update event of its key, echo or not, and
    dropped by a deletion; a reconcile that needs the event (it waits for the cache to show its
    write) drops it with :meth:`forget`. Memory: one entry per key written and not yet seen.
    """

    __slots__ = ("_expected",)

    def __init__(self) -> None:
        self._expected: dict[str, str] = {}

    def expect(self, key: str, resource_version: str) -> None:
        self._expected[key] = resource_version

    def forget(self, key: str) -> None:
        self._expected.pop(key, None)

    def clear(self) -> None:
        self._expected.clear()

    def consume(self, obj: CachedObject) -> bool:
        """True if ``obj``'s event is the echo expected for its key."""
        expected = self._expected.pop(obj.key, None)
        return expected is not None and expected == obj.resource_version

    def __len__(self) -> int:
        return len(self._expected)


@dataclass(frozen=True, slots=True)
class Watch:
    """``wake(obj)`` enqueues what an event of ``informer`` about ``obj`` wakes.

    ``changes`` False: only deletions wake. ``resync``: on becoming leader, every cached object
    of the informer is passed to ``wake`` once. ``echoes``: the writer's own echoes, which
    wake nothing (for the watch of a reconciler's own objects). ``matters(old, new)``: False
    for an add (``old`` None) or update that cannot change what the woken reconciler decides.
    """

    informer: Informer
    wake: Wake
    changes: bool = True
    resync: bool = True
    echoes: OwnEchoes | None = None
    matters: Callable[[CachedObject | None, CachedObject], bool] | None = None


class Watches:
    """One replica's watches, registered on their informers (before the informers run)."""

    def __init__(self, watches: Iterable[Watch]) -> None:
        self.leading = False
        self._watches = tuple(watches)
        for watch in self._watches:
            watch.informer.add_handler(self._handler(watch))

    def _handler(self, watch: Watch) -> HandlerFuncs:
        echoes = watch.echoes

        def wake(obj: CachedObject) -> None:
            if self.leading:
                watch.wake(obj)

        matters = watch.matters

        def added(obj: CachedObject, old: CachedObject | None = None) -> None:
            if echoes is not None and echoes.consume(obj):
                return
            if matters is None or matters(old, obj):
                wake(obj)

        def changed(old: CachedObject, new: CachedObject) -> None:
            if old.resource_version != new.resource_version:
                added(new, old)

        def gone(item: CachedObject | DeletedFinalStateUnknown) -> None:
            obj = deleted(item)
            if echoes is not None:
                echoes.forget(obj.key)
            wake(obj)

        if not watch.changes:
            return HandlerFuncs(delete=gone)
        return HandlerFuncs(add=added, update=changed, delete=gone)

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
