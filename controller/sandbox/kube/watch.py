"""Watchers: one per open watch stream, fed synchronously by the store on every write.

Invariants:
- ``offer`` never blocks and never awaits: a writer fans an event out to every watcher in the
  same step that bumps the resourceVersion, so a watcher's queue is always in RV order and an
  empty queue means the watcher has seen everything up to the store's current RV.
- A watcher whose queue is full is closed (the cacher's "forcing watcher close due to
  unresponsiveness"); its stream then ends cleanly and the client re-watches.
- Selector transitions: leaving the selector is DELETED (previous state at the new RV),
  entering it is ADDED.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from .resources import Obj, ResourceType
from .selectors import Predicate


@dataclass(slots=True)
class Event:
    rv: int
    type: str
    obj: Obj
    old: Obj | None
    #: encoded watch lines, per view apiVersion (filled by the first watcher that needs one)
    encoded: dict[str, bytes] = field(default_factory=dict)


@dataclass(slots=True)
class Delivery:
    """What one watcher is told about one event (the type may differ from the event's)."""

    type: str
    obj: Obj
    event: Event | None


def with_resource_version(obj: Obj, rv: int) -> Obj:
    return {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(rv)}}


class Watcher:
    def __init__(
        self,
        rt: ResourceType,
        namespace: str | None,
        matches: Predicate,
        *,
        capacity: int,
    ) -> None:
        self.rt = rt
        self.namespace = namespace
        self.matches = matches
        self.capacity = capacity
        self.queue: deque[Delivery] = deque()
        self.closed = False
        self.overflowed = False
        self._wakeup = asyncio.Event()

    def _visible(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        if self.namespace is not None and obj["metadata"].get("namespace") != self.namespace:
            return False
        return self.matches(obj if self.rt.same_form else self.rt.encode(obj))

    def offer(self, event: Event) -> None:
        if self.closed:
            return
        now = self._visible(event.obj) if event.type != "DELETED" else False
        before = self._visible(event.old)
        if event.type == "DELETED":
            delivery = Delivery("DELETED", event.obj, event) if before else None
        elif now:
            kind = "MODIFIED" if before else "ADDED"
            delivery = Delivery(kind, event.obj, event if kind == event.type else None)
        elif before:
            assert event.old is not None
            delivery = Delivery("DELETED", with_resource_version(event.old, event.rv), None)
        else:
            delivery = None
        if delivery is not None:
            self.push(delivery)

    def push(self, delivery: Delivery) -> None:
        if len(self.queue) >= self.capacity:
            self.overflowed = True
            self.close()
            return
        self.queue.append(delivery)
        self._wakeup.set()

    def close(self) -> None:
        self.closed = True
        self._wakeup.set()

    async def wait(self, timeout: float) -> None:
        """Wait until something is queued, the watcher is closed, or ``timeout`` passes."""
        if self.queue or self.closed:
            return
        self._wakeup.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._wakeup.wait()
        except TimeoutError:
            return

    def drain(self) -> list[Delivery]:
        items = list(self.queue)
        self.queue.clear()
        return items
