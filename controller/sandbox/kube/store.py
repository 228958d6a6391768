"""In-memory storage: one global resourceVersion, objects as dicts, bounded event history.

Invariants:
- Stored objects are never mutated after :meth:`Store.put`; every write stores a new dict, so
  snapshots, watch events and responses may share them freely.
- Every write takes the next value of the single RV counter and fans its event out to all
  watchers of that storage before returning (no await in between).
- Each storage keeps at most ``history`` events; ``floor`` is the newest RV whose events may be
  gone, so a watch from an RV below it must get 410 Expired.
"""

from __future__ import annotations

import base64
import bisect
import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import orjson

from .resources import Obj
from .status import bad_request, gone
from .watch import Event, Watcher, with_resource_version

SNAPSHOT_TTL = 300.0
MAX_SNAPSHOTS = 256
CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter."
)


def object_key(obj: Obj) -> str:
    meta = obj["metadata"]
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])


@dataclass(slots=True)
class Collection:
    """All objects of one storage, its event history and its watchers."""

    floor: int
    history_size: int
    objects: dict[str, Obj] = field(default_factory=dict)
    history: deque[Event] = field(default_factory=deque)
    watchers: set[Watcher] = field(default_factory=set)

    def record(self, event: Event) -> None:
        if len(self.history) >= self.history_size:
            self.floor = self.history.popleft().rv
        self.history.append(event)
        for watcher in list(self.watchers):
            watcher.offer(event)
            if watcher.closed:
                self.watchers.discard(watcher)

    def since(self, rv: int) -> Iterator[Event]:
        """Retained events newer than ``rv`` (caller checked ``rv >= floor``)."""
        start = bisect.bisect_right(self.history, rv, key=lambda e: e.rv)
        return itertools.islice(self.history, start, None)


@dataclass(slots=True)
class Snapshot:
    rv: int
    keys: list[str]
    objects: list[Obj]
    created: float
    ident: int = 0


@dataclass(slots=True)
class Page:
    items: list[Obj]
    rv: int
    continue_token: str | None
    remaining: int | None


WriteHook = Callable[[str, Event], None]


class Store:
    def __init__(self, *, history: int) -> None:
        self.rv = 1
        self.history = history
        self.collections: dict[str, Collection] = {}
        self._snapshots: OrderedDict[int, Snapshot] = OrderedDict()
        self._snapshot_ids = itertools.count(1)
        self._hooks: list[WriteHook] = []
        self._dropped: set[str] = set()

    def on_write(self, hook: WriteHook) -> None:
        """Call ``hook(storage, event)`` after every write (indexes, garbage collection)."""
        self._hooks.append(hook)

    def collection(self, storage: str) -> Collection:
        """The storage's collection. A never-written storage has lost no event, so any RV can
        be watched from; one dropped before (its CRD deleted) starts at the current RV."""
        found = self.collections.get(storage)
        if found is None:
            floor = self.rv if storage in self._dropped else 0
            found = self.collections[storage] = Collection(floor=floor, history_size=self.history)
        return found

    def drop_storage(self, storage: str) -> None:
        self._dropped.add(storage)
        found = self.collections.pop(storage, None)
        if found is not None:
            for watcher in found.watchers:
                watcher.close()

    def get(self, storage: str, key: str) -> Obj | None:
        found = self.collections.get(storage)
        return None if found is None else found.objects.get(key)

    def put(self, storage: str, obj: Obj) -> Obj:
        """Store ``obj`` (taking ownership) at the next RV; ADDED or MODIFIED."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        coll = self.collection(storage)
        key = object_key(obj)
        old = coll.objects.get(key)
        coll.objects[key] = obj
        self._emit(storage, coll, Event(self.rv, "MODIFIED" if old else "ADDED", obj, old))
        return obj

    def remove(self, storage: str, key: str, final: Obj | None = None) -> Obj:
        """Delete at the next RV; the DELETED event carries the last state (``final`` when the
        deleting write also changed the object) at that RV."""
        coll = self.collection(storage)
        old = coll.objects.pop(key)
        self.rv += 1
        final = with_resource_version(final if final is not None else old, self.rv)
        self._emit(storage, coll, Event(self.rv, "DELETED", final, old))
        return final

    def _emit(self, storage: str, coll: Collection, event: Event) -> None:
        coll.record(event)
        for hook in self._hooks:
            hook(storage, event)

    def objects(self, storage: str, namespace: str | None = None) -> list[Obj]:
        found = self.collections.get(storage)
        if found is None:
            return []
        if namespace is None:
            return list(found.objects.values())
        prefix = namespace + "/"
        return [o for k, o in found.objects.items() if k.startswith(prefix)]

    # -- paged lists ---------------------------------------------------------------------

    def page(
        self,
        storage: str,
        namespace: str | None,
        matches: Callable[[Obj], bool],
        *,
        limit: int,
        token: str | None,
    ) -> Page:
        """One page of a consistent list; ``limit`` 0 means everything."""
        if token:
            snapshot, start = self._resume(token)
        else:
            found = self.collections.get(storage)
            items = sorted(found.objects.items()) if found is not None else []
            if namespace is not None:
                prefix = namespace + "/"
                items = [kv for kv in items if kv[0].startswith(prefix)]
            snapshot = Snapshot(
                self.rv, [k for k, _ in items], [o for _, o in items], time.monotonic()
            )
            start = 0
        out: list[Obj] = []
        index = start
        total = len(snapshot.keys)
        while index < total and (limit <= 0 or len(out) < limit):
            obj = snapshot.objects[index]
            index += 1
            if matches(obj):
                out.append(obj)
        if index >= total:
            return Page(out, snapshot.rv, None, None)
        ident = self._keep(snapshot)
        raw = orjson.dumps({"id": ident, "rv": snapshot.rv, "start": snapshot.keys[index]})
        return Page(out, snapshot.rv, base64.urlsafe_b64encode(raw).decode(), total - index)

    def _keep(self, snapshot: Snapshot) -> int:
        if not snapshot.ident:
            snapshot.ident = next(self._snapshot_ids)
            self._snapshots[snapshot.ident] = snapshot
            while len(self._snapshots) > MAX_SNAPSHOTS:
                self._snapshots.popitem(last=False)
        return snapshot.ident

    def _resume(self, token: str) -> tuple[Snapshot, int]:
        try:
            data = orjson.loads(base64.urlsafe_b64decode(token.encode()))
            ident, start = int(data["id"]), str(data["start"])
        except (ValueError, KeyError, TypeError) as exc:
            raise bad_request(f"invalid continue token: {exc}") from None
        now = time.monotonic()
        for old_id in [i for i, s in self._snapshots.items() if now - s.created > SNAPSHOT_TTL]:
            del self._snapshots[old_id]
        snapshot = self._snapshots.get(ident)
        if snapshot is None:
            raise gone(CONTINUE_TOO_OLD)
        index = bisect.bisect_left(snapshot.keys, start)
        if index >= len(snapshot.keys):
            self._snapshots.pop(ident, None)
        return snapshot, index

    # -- fault injection -----------------------------------------------------------------

    def compact(self) -> None:
        """Forget all history and paging snapshots: older RVs and tokens now get 410."""
        self._snapshots.clear()
        for coll in self.collections.values():
            coll.history.clear()
            coll.floor = self.rv

    def drop_watches(self) -> int:
        dropped = 0
        for coll in self.collections.values():
            for watcher in coll.watchers:
                watcher.close()
                dropped += 1
            coll.watchers.clear()
        return dropped
