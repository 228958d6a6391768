"""The informer cache: objects keyed ``namespace/name`` (``name`` when cluster-scoped), with
secondary indexes (client-go's thread-safe store plus indexer).

Invariants:
- Each object is kept as one :class:`~controller.kube.cached.CachedObject`: its exactly sized
  JSON bytes (already trimmed) plus key, namespace, name, uid and resourceVersion as str. About
  the raw JSON size per object, no Python objects for the object's content: the cyclic GC
  sees one small object per key (a full collection visits 50k of them in ~4 ms).
- ``put`` and ``delete`` never decode a stored object: what they compare (uid, namespace) comes
  from the CachedObject, and each custom index's values for a key are kept beside it. A ``put``
  decodes the new object at most once, and only when the store has indexers beyond the
  built-in ``namespace`` index (which reads ``CachedObject.namespace``).
- Every dict read (``get``, ``list``, ``objects``, ``by_index``) decodes a fresh dict: callers
  may mutate what they get without corrupting the cache (the classic client-go pitfall cannot
  happen here). ``get_cached`` hands out the shared, immutable CachedObject itself. A scan of
  every object uses ``objects``: one decoded object alive at a time, where ``list`` holds them
  all at once (50,000 cached requests: ~250 MiB).
- For every index ``name``: ``index_keys(name, v)`` is exactly the set of keys whose current
  object ``o`` has ``v in indexers[name](o)``. The ``namespace`` index is built in.
- Index values are interned: the thousands of objects of one namespace or one issuer share one
  string per value.
- Only the owning informer mutates the store (:meth:`put`, :meth:`delete`).
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from controller.kube.cached import CachedObject

IndexFunc = Callable[[dict[str, Any]], Iterable[str]]
ObjectList = list[dict[str, Any]]
NAMESPACE_INDEX = "namespace"


def namespace_index(obj: dict[str, Any]) -> tuple[str, ...]:
    """client-go's MetaNamespaceIndexFunc: the namespace ('' for cluster-scoped objects)."""
    return (obj["metadata"].get("namespace") or "",)


class Store:
    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, CachedObject] = {}
        self._indexers: dict[str, IndexFunc] = {}  # the custom ones (not ``namespace``)
        self._indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        self._values: dict[str, dict[str, tuple[str, ...]]] = {}  # index -> key -> values
        for name, func in (indexers or {}).items():
            self.add_indexer(name, func)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: str) -> dict[str, Any] | None:
        cached = self._items.get(key)
        return None if cached is None else cached.decode()

    def get_cached(self, key: str) -> CachedObject | None:
        """The stored object without decoding it (shared: never mutate it)."""
        return self._items.get(key)

    def list_keys(self) -> builtins.list[str]:
        return builtins.list(self._items)

    def list(self) -> ObjectList:
        """Every cached object (decodes all of them: prefer ``get`` or ``by_index``)."""
        return [cached.decode() for cached in self._items.values()]

    def objects(self) -> Iterator[dict[str, Any]]:
        """Every cached object, decoded one at a time as the caller iterates (a snapshot of
        the store taken at the first step: puts and deletes meanwhile do not disturb it)."""
        for cached in builtins.list(self._items.values()):
            yield cached.decode()

    def index_keys(self, index: str, value: str) -> set[str]:
        return set(self._index(index).get(value, ()))

    def index_values(self, index: str) -> builtins.list[str]:
        return builtins.list(self._index(index))

    def by_index(self, index: str, value: str) -> ObjectList:
        return [self._items[key].decode() for key in self._index(index).get(value, ())]

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        """Adds an index and builds it from the objects already cached."""
        if name in self._indices:
            raise ValueError(f"index {name!r} already exists")
        self._indexers[name] = func
        self._indices[name] = {}
        values = self._values[name] = {}
        for key, cached in self._items.items():
            found = _index_values(func, cached.decode())
            if found:
                values[key] = found
                self._link(name, key, found)

    def put(
        self, obj: CachedObject | dict[str, Any], *, decoded: dict[str, Any] | None = None
    ) -> CachedObject | None:
        """Stores ``obj`` under its key; returns the object it replaced, if any.

        A dict is encoded first. ``decoded``, when the caller has it, is what ``obj`` decodes
        to: index functions then read it instead of a fresh decode.
        """
        if isinstance(obj, dict):
            decoded = obj
            obj = CachedObject.encode(obj)
        key = obj.key
        old = self._items.get(key)
        self._items[key] = obj
        if old is None:
            self._link(NAMESPACE_INDEX, key, (obj.namespace,))
        elif old.namespace != obj.namespace:
            self._unlink(NAMESPACE_INDEX, key, (old.namespace,))
            self._link(NAMESPACE_INDEX, key, (obj.namespace,))
        if self._indexers:
            if decoded is None:
                decoded = obj.decode()
            for name, func in self._indexers.items():
                values = self._values[name]
                new_values = _index_values(func, decoded)
                old_values = values.get(key, ())
                if new_values != old_values:
                    self._unlink(name, key, old_values)
                    self._link(name, key, new_values)
                    if new_values:
                        values[key] = new_values
                    else:
                        del values[key]
        return old

    def delete(self, key: str) -> CachedObject | None:
        """Removes ``key``; returns the object it held, if any."""
        old = self._items.pop(key, None)
        if old is None:
            return None
        self._unlink(NAMESPACE_INDEX, key, (old.namespace,))
        for name, values in self._values.items():
            self._unlink(name, key, values.pop(key, ()))
        return old

    def _index(self, index: str) -> dict[str, set[str]]:
        try:
            return self._indices[index]
        except KeyError:
            raise KeyError(f"no index named {index!r}") from None

    def _link(self, name: str, key: str, values: tuple[str, ...]) -> None:
        index = self._indices[name]
        for value in values:
            index.setdefault(value, set()).add(key)

    def _unlink(self, name: str, key: str, values: tuple[str, ...]) -> None:
        index = self._indices[name]
        for value in values:
            keys = index.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[value]


def _index_values(func: IndexFunc, obj: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sys.intern(value) for value in func(obj))
