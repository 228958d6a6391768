"""Cached objects: one object's trimmed JSON plus the few metadata fields the informer machinery
reads without decoding it (client-go keeps typed objects; we keep bytes).

Invariants:
- ``raw`` is the exactly sized JSON of the object as the cache keeps it (already transformed);
  ``key``, ``namespace``, ``name``, ``uid`` and ``resource_version`` are the values of
  ``object_key(obj)`` and ``obj["metadata"]`` fields of ``decode()``'s result (``namespace`` is
  ``""`` and ``uid``/``resource_version`` ``None`` when absent).
- A CachedObject is immutable and shared (the store, every handler): :meth:`decode` returns a
  fresh dict on every call, so callers may mutate what they get.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def trim_object(obj: dict[str, Any]) -> dict[str, Any]:
    """Drops what a controller never reads: managedFields and kubectl's last-applied copy."""
    meta = obj.get("metadata")
    if meta:
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if annotations:
            annotations.pop(LAST_APPLIED, None)
    return obj


class CachedObject:
    """An object as the informer cache holds it; :meth:`decode` parses it on demand."""

    __slots__ = ("key", "name", "namespace", "raw", "resource_version", "uid")

    key: str
    name: str
    namespace: str
    uid: str | None
    resource_version: str | None
    raw: bytes

    def __init__(
        self,
        raw: bytes,
        name: str,
        namespace: str = "",
        uid: str | None = None,
        resource_version: str | None = None,
    ) -> None:
        self.raw = raw
        self.name = name
        self.namespace = sys.intern(namespace)  # shared by every object of the namespace
        self.uid = uid
        self.resource_version = resource_version
        self.key = f"{namespace}/{name}" if namespace else name

    @classmethod
    def encode(cls, obj: dict[str, Any]) -> CachedObject:
        """The cached form of a decoded (already transformed) object; ``metadata.name`` is
        required (KeyError otherwise, like ``object_key``)."""
        meta = obj["metadata"]
        if not isinstance(meta, dict):
            raise TypeError("metadata is not an object")
        namespace = meta.get("namespace")
        uid = meta.get("uid")
        version = meta.get("resourceVersion")
        # orjson's bytes keep their whole growth buffer (32 KiB for a 3 KiB object): keep an
        # exactly sized copy instead.
        return cls(
            memoryview(orjson.dumps(obj)).tobytes(),
            str(meta["name"]),
            str(namespace) if namespace else "",
            None if uid is None else str(uid),
            None if version is None else str(version),
        )

    def decode(self) -> dict[str, Any]:
        """A fresh dict of the object (a full JSON parse: keep it off hot paths)."""
        obj: dict[str, Any] = orjson.loads(self.raw)
        return obj

    def __repr__(self) -> str:
        return f"CachedObject({self.key!r}, resource_version={self.resource_version!r})"
