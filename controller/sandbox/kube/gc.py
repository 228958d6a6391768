"""Background garbage collection and namespace cleanup (the controllers the real control plane
runs next to the API server).

- A dependent whose owners (by ``ownerReferences[].uid``) are all gone is deleted; dangling
  references next to live owners are removed.
- ``propagationPolicy=Foreground`` (finalizer ``foregroundDeletion``): dependents are deleted
  first, then the owner's finalizer is removed. ``Orphan`` (finalizer ``orphan``): the owner's
  references are removed from its dependents, then the finalizer.
- A terminating namespace is emptied, then its ``kubernetes`` finalizer is removed; like the
  real namespace controller, it starts ``namespace_grace`` seconds (5 there) after the deletion,
  so ``kubectl delete -k`` still finds the namespace's objects it deletes next.
Finalizers on dependents are honoured: they are only marked for deletion.

The store hook only records work; a single task does it, so writes never recurse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from typing import Any

from .catalog import Catalog
from .registry import Registry, WriteOptions
from .resources import Obj
from .status import StatusError
from .store import object_key
from .watch import Event

log = logging.getLogger(__name__)

GC = WriteOptions(manager="generic-garbage-collector")
NAMESPACE_CONTROLLER = WriteOptions(manager="namespace-controller")

Ref = tuple[str, str]  # storage, key


def _owner_uids(obj: Obj | None) -> set[str]:
    if obj is None:
        return set()
    return {
        str(r.get("uid"))
        for r in obj["metadata"].get("ownerReferences") or []
        if isinstance(r, dict) and r.get("uid")
    }


class GarbageCollector:
    def __init__(self, registry: Registry, catalog: Catalog, namespace_grace: float = 5.0) -> None:
        self.registry = registry
        self.catalog = catalog
        self.namespace_grace = namespace_grace
        #: terminating namespaces in their grace period → monotonic time cleanup starts
        self._namespace_due: dict[str, float] = {}
        #: terminating namespaces past their grace period
        self._cleaning: set[str] = set()
        self._uids: dict[str, Ref] = {}
        self._dependents: dict[str, set[Ref]] = defaultdict(set)
        self._work: deque[tuple[str, Any]] = deque()
        self._wakeup = asyncio.Event()
        registry.store.on_write(self.observe)

    def _enqueue(self, kind: str, item: Any) -> None:
        self._work.append((kind, item))
        self._wakeup.set()

    def observe(self, storage: str, event: Event) -> None:
        obj, meta = event.obj, event.obj["metadata"]
        ref: Ref = (storage, object_key(obj))
        uid = str(meta.get("uid"))
        before = _owner_uids(event.old)
        after = _owner_uids(obj) if event.type != "DELETED" else set()
        for owner in before - after:
            self._dependents[owner].discard(ref)
            if not self._dependents[owner]:
                del self._dependents[owner]
        for owner in after - before:
            self._dependents[owner].add(ref)
        if event.type == "DELETED":
            self._uids.pop(uid, None)
            if uid in self._dependents:
                self._enqueue("owner-gone", uid)
            for owner in before:
                if owner in self._uids:
                    self._enqueue("finalize", self._uids[owner])
            namespace = meta.get("namespace")
            if namespace and self.registry.store.get("namespaces", namespace) is not None:
                self._enqueue("namespace", namespace)
            if storage == "namespaces":
                self._namespace_due.pop(meta["name"], None)
                self._cleaning.discard(meta["name"])
            return
        self._uids[uid] = ref
        if after - before:
            self._enqueue("dependent", ref)
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp"):
            if "foregroundDeletion" in finalizers or "orphan" in finalizers:
                self._enqueue("finalize", ref)
            if storage == "namespaces":
                name = meta["name"]
                if name in self._cleaning:
                    self._enqueue("namespace", name)
                elif name not in self._namespace_due:
                    self._namespace_due[name] = time.monotonic() + self.namespace_grace
                    self._wakeup.set()  # run() recomputes its timeout

    def _start_due_namespaces(self) -> float | None:
        """Queue the cleanup of namespaces whose grace period is over; the seconds until the
        next one is (None: none waits)."""
        now = time.monotonic()
        for name, due in list(self._namespace_due.items()):
            if due <= now:
                del self._namespace_due[name]
                self._cleaning.add(name)
                self._enqueue("namespace", name)
        return min(self._namespace_due.values()) - now if self._namespace_due else None

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._start_due_namespaces())
            self._wakeup.clear()
            self._start_due_namespaces()
            while self._work:
                kind, item = self._work.popleft()
                try:
                    self._process(kind, item)
                except StatusError as exc:
                    log.debug("garbage collection of %s %s: %s", kind, item, exc)
                except Exception:  # a collector bug must not take the API server down
                    log.exception("garbage collection of %s %s failed", kind, item)
                await asyncio.sleep(0)

    def _process(self, kind: str, item: Any) -> None:
        if kind == "owner-gone":
            for ref in list(self._dependents.get(item, ())):
                self._check_dependent(ref)
        elif kind == "dependent":
            self._check_dependent(item)
        elif kind == "finalize":
            self._finalize(item)
        elif kind == "namespace":
            self._clean_namespace(item)

    def _get(self, ref: Ref) -> Obj | None:
        return self.registry.store.get(*ref)

    def _delete(self, ref: Ref, options: WriteOptions = GC) -> None:
        obj, rt = self._get(ref), self.catalog.for_storage(ref[0])
        if obj is None or rt is None or obj["metadata"].get("deletionTimestamp"):
            return
        view = self.registry.view(rt, obj)
        self.registry.delete(
            rt,
            view["metadata"].get("namespace"),
            view["metadata"]["name"],
            {"propagationPolicy": "Background"},
            options,
        )

    def _update_meta(self, ref: Ref, **changes: Any) -> None:
        obj, rt = self._get(ref), self.catalog.for_storage(ref[0])
        if obj is None or rt is None:
            return
        view = self.registry.view(rt, obj)
        meta = {**view["metadata"], **changes}
        for key in [k for k, v in changes.items() if v is None]:
            meta.pop(key)
        self.registry.update(
            rt, meta.get("namespace"), meta["name"], {**view, "metadata": meta}, opts=GC
        )

    def _check_dependent(self, ref: Ref) -> None:
        obj = self._get(ref)
        if obj is None:
            return
        refs = obj["metadata"].get("ownerReferences") or []
        live = [r for r in refs if str(r.get("uid")) in self._uids]
        if not refs:
            return
        if not live:
            self._delete(ref)
        elif len(live) < len(refs):
            self._update_meta(ref, ownerReferences=live)

    def _finalize(self, ref: Ref) -> None:
        obj = self._get(ref)
        if obj is None or not obj["metadata"].get("deletionTimestamp"):
            return
        uid = str(obj["metadata"]["uid"])
        finalizers = list(obj["metadata"].get("finalizers") or [])
        dependents = list(self._dependents.get(uid, ()))
        if "orphan" in finalizers:
            for dep in dependents:
                dep_obj = self._get(dep)
                if dep_obj is not None:
                    kept = [
                        r
                        for r in dep_obj["metadata"].get("ownerReferences") or []
                        if str(r.get("uid")) != uid
                    ]
                    self._update_meta(dep, ownerReferences=kept or None)
            finalizers.remove("orphan")
        elif "foregroundDeletion" in finalizers:
            for dep in dependents:
                self._delete(dep)
            if any(self._get(d) is not None for d in dependents):
                return
            finalizers.remove("foregroundDeletion")
        else:
            return
        self._update_meta(ref, finalizers=finalizers or None)

    def _clean_namespace(self, name: str) -> None:
        ns = self.registry.store.get("namespaces", name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        if name not in self._cleaning:
            return  # still in its grace period: run() queues it when that is over
        remaining = False
        for storage in self.catalog.namespaced_storages():
            for obj in self.registry.store.objects(storage, name):
                remaining = True
                self._delete((storage, object_key(obj)), NAMESPACE_CONTROLLER)
        if remaining or "kubernetes" not in ((ns.get("spec") or {}).get("finalizers") or []):
            return
        rt = self.catalog.for_storage("namespaces")
        assert rt is not None
        self.registry.update(
            rt,
            None,
            name,
            {**ns, "spec": {**ns["spec"], "finalizers": []}},
            opts=NAMESPACE_CONTROLLER,
            subresource="finalize",
        )
