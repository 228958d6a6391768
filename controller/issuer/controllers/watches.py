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
  wrote quietly, when that reconcile already decided from the written object what comes next
  (:class:`OwnWrites`). Any other event of the key, and every deletion, wakes as usual.
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


@dataclass(slots=True)
class _Written:
    version: str
    quiet: bool


class OwnWrites:
    """Read your writes, per key: the resourceVersion of a reconciler's last write of the
    object, until the cache shows it.

    - :meth:`caught_up` is False while the cached object is older than that write: the
      reconcile waits for the write's watch event, which then wakes the key.
    - A ``quiet`` write's event (its echo) wakes nothing: the reconcile that wrote it went on
      from the object the write returned, and whatever it waits for wakes the key by itself (a
      requeue, the issuance poller), or it has nothing left to decide. :meth:`wake_on_echo`
      takes that back when the reconcile ends needing the event after all.
    - The entry ends with the first event at or past the written version (:meth:`seen`), a
      deletion, or a reconcile that finds the cache caught up: memory is one entry per key
      whose write the cache has not shown yet.
    Versions compare as integers when both are; anything else counts as caught up.
    """

    __slots__ = ("_written",)

    def __init__(self) -> None:
        self._written: dict[str, _Written] = {}

    def wrote(self, key: str, version: str | None, *, quiet: bool = False) -> None:
        self._written[key] = _Written(str(version or ""), quiet)

    def wake_on_echo(self, key: str) -> None:
        """The reconcile of ``key`` needs its last write's event to wake it."""
        written = self._written.get(key)
        if written is not None:
            written.quiet = False

    def caught_up(self, key: str, version: str | None) -> bool:
        """True once the cache shows ``key`` at or past its last write (the entry then ends);
        False while it is older, and then the write's event will wake the key."""
        written = self._written.get(key)
        if written is None:
            return True
        if _older(version or "", written.version):
            written.quiet = False
            return False
        del self._written[key]
        return True

    def seen(self, obj: CachedObject) -> bool:
        """An add or update event of ``obj`` arrived; True if it is a quiet echo, which wakes
        nothing. An older event leaves the entry waiting for the write's own."""
        written = self._written.get(obj.key)
        if written is None or _older(obj.resource_version or "", written.version):
            return False
        del self._written[obj.key]
        return written.quiet and obj.resource_version == written.version

    def forget(self, key: str) -> None:
        self._written.pop(key, None)

    def clear(self) -> None:
        self._written.clear()

    def __len__(self) -> int:
        return len(self._written)


def _older(version: str, than: str) -> bool:
    return version.isdigit() and than.isdigit() and int(version) < int(than)


@dataclass(frozen=True, slots=True)
class Watch:
    """``wake(obj)`` enqueues what an event of ``informer`` about ``obj`` wakes.

    ``changes`` False: only deletions wake. ``resync``: on becoming leader, every cached object
    of the informer is passed to ``wake`` once. ``writes``: the writes of the reconciler of
    these objects, whose quiet echoes wake nothing and whose entries end as events show them.
    ``matters(old, new)``: False for an add (``old`` None) or update that cannot change what
    the woken reconciler decides.
    """

    informer: Informer
    wake: Wake
    changes: bool = True
    resync: bool = True
    writes: OwnWrites | None = None
    matters: Callable[[CachedObject | None, CachedObject], bool] | None = None


class Watches:
    """One replica's watches, registered on their informers (before the informers run)."""

    def __init__(self, watches: Iterable[Watch]) -> None:
        self.leading = False
        self._watches = tuple(watches)
        for watch in self._watches:
            watch.informer.add_handler(self._handler(watch))

    def _handler(self, watch: Watch) -> HandlerFuncs:
        writes = watch.writes

        def wake(obj: CachedObject) -> None:
            if self.leading:
                watch.wake(obj)

        matters = watch.matters

        def added(obj: CachedObject, old: CachedObject | None = None) -> None:
            if writes is not None and writes.seen(obj):
                return
            if matters is None or matters(old, obj):
                wake(obj)

        def changed(old: CachedObject, new: CachedObject) -> None:
            if old.resource_version != new.resource_version:
                added(new, old)

        def gone(item: CachedObject | DeletedFinalStateUnknown) -> None:
            obj = deleted(item)
            if writes is not None:
                writes.forget(obj.key)
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
