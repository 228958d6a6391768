"""The informer cache: objects keyed ``namespace/name`` (``name`` when cluster-scoped), with
secondary indexes (client-go's thread-safe store plus indexer).

Invariants:
- Objects are kept encoded (exactly sized orjson bytes of the already trimmed object): about
  the raw JSON size per object, no per-field Python objects, nothing for the cyclic GC to walk.
- Every read decodes a fresh dict: callers may mutate what they get without corrupting the
  cache (the classic client-go pitfall cannot happen here).
- For every index ``name``: ``index_keys(name, v)`` is exactly the set of keys whose current
  object ``o`` has ``v in indexers[name](o)``. The ``namespace`` index is built in.
- Only the owning informer mutates the store (:meth:`put`, :meth:`delete`).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

IndexFunc = Callable[[dict[str, Any]], Iterable[str]]
ObjectList = list[dict[str, Any]]
NAMESPACE_INDEX = "namespace"


def namespace_index(obj: dict[str, Any]) -> tuple[str, ...]:
    """client-go's MetaNamespaceIndexFunc: the namespace ('' for cluster-scoped objects)."""
    return (obj["metadata"].get("namespace") or "",)


class Store:
    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, bytes] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: namespace_index}
        self._indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        for name, func in (indexers or {}).items():
            self.add_indexer(name, func)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self._items.get(key)
        return None if raw is None else _decode(raw)

    def list_keys(self) -> builtins.list[str]:
        return builtins.list(self._items)

    def list(self) -> ObjectList:
        """Every cached object (decodes all of them: prefer ``get`` or ``by_index``)."""
        return [_decode(raw) for raw in self._items.values()]

    def index_keys(self, index: str, value: str) -> set[str]:
        return set(self._index(index).get(value, ()))

    def index_values(self, index: str) -> builtins.list[str]:
        return builtins.list(self._index(index))

    def by_index(self, index: str, value: str) -> ObjectList:
        return [_decode(self._items[key]) for key in self._index(index).get(value, ())]

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        """Adds an index and builds it from the objects already cached."""
        if name in self._indexers:
            raise ValueError(f"index {name!r} already exists")
        self._indexers[name] = func
        self._indices[name] = {}
        for key, raw in self._items.items():
            self._link(name, key, tuple(func(_decode(raw))))

    def put(self, key: str, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Stores ``obj`` under ``key``; returns the object it replaced, if any."""
        raw = self._items.get(key)
        old = None if raw is None else _decode(raw)
        self._items[key] = _encode(obj)
        for name, func in self._indexers.items():
            new_values = tuple(func(obj))
            old_values = () if old is None else tuple(func(old))
            if new_values != old_values:
                self._unlink(name, key, old_values)
                self._link(name, key, new_values)
        return old

    def delete(self, key: str) -> dict[str, Any] | None:
        """Removes ``key``; returns the object it held, if any."""
        raw = self._items.pop(key, None)
        if raw is None:
            return None
        old = _decode(raw)
        for name, func in self._indexers.items():
            self._unlink(name, key, tuple(func(old)))
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


def _encode(obj: dict[str, Any]) -> bytes:
    """orjson's bytes keep its whole growth buffer (32 KiB for a 3 KiB object): copy them to an
    exactly sized object before keeping them for long."""
    return memoryview(orjson.dumps(obj)).tobytes()


def _decode(raw: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = orjson.loads(raw)
    return obj
