"""An informer: a reflector feeding a store, and handlers told about every change in order
(client-go's ``tools/cache`` shared informer and processor listeners, with in-order delivery).

Invariants:
- Each object is transformed (by default :func:`trim_object`) before it is stored or handed out.
  With the default transform the watch is lean (:mod:`controller.kube.watchevents`): events
  arrive as CachedObjects already trimmed exactly like ``trim_object``, and nothing parses their
  content. A custom transform (e.g. one that drops Secret values) always sees the full decode:
  its informer watches with full decoding, so nothing it drops is ever stored.
- Handlers get :class:`~controller.kube.cached.CachedObject` (``key``, ``namespace``,
  ``name``, ``uid``, ``resource_version``; ``decode()`` for the content), shared with the store
  and immutable.
- Store first, then notify: when a handler runs, the store already holds the state it is told
  about (or a newer one).
- Handlers are synchronous, called one notification at a time in arrival order from the
  informer's own dispatch task, fed through an unbounded buffer: the socket reader never waits
  for a handler, and a handler that raises is logged and skipped, never fatal.
- A relist yields ``on_update(old, new)`` for every listed object that was cached (even when
  unchanged: compare ``resource_version`` for equality to skip), ``on_add`` for new ones and
  ``on_delete(DeletedFinalStateUnknown)`` for cached objects the list no longer has.
- The same key with a different ``metadata.uid`` is a different object: ``on_delete(old)``
  then ``on_add(new)``, never ``on_update``.
- ``has_synced()`` turns true once the handlers have been told about the first full list.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from controller.kube.cached import LAST_APPLIED, CachedObject, trim_object
from controller.kube.client import KubeClient
from controller.kube.metrics import InformerMetricsProvider
from controller.kube.reflector import Reflector, ReflectorOptions
from controller.kube.resource import Resource
from controller.kube.store import IndexFunc, Store
from controller.kube.watchevents import WatchEvent, WatchProtocolError

__all__ = [
    "LAST_APPLIED",
    "CachedObject",
    "DeletedFinalStateUnknown",
    "EventHandler",
    "HandlerFuncs",
    "Informer",
    "Transform",
    "trim_object",
]

log = logging.getLogger(__name__)

_YIELD_EVERY = 128
_ADD, _UPDATE, _DELETE, _SYNCED = range(4)

Transform = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class DeletedFinalStateUnknown:
    """A deletion noticed by a relist: ``obj`` is the last state this informer saw."""

    key: str
    obj: CachedObject


class EventHandler(Protocol):
    def on_add(self, obj: CachedObject) -> None: ...

    def on_update(self, old: CachedObject, new: CachedObject) -> None: ...

    def on_delete(self, obj: CachedObject | DeletedFinalStateUnknown) -> None: ...


@dataclass(frozen=True, slots=True)
class HandlerFuncs:
    """An EventHandler from optional plain functions (client-go's ResourceEventHandlerFuncs)."""

    add: Callable[[CachedObject], None] | None = None
    update: Callable[[CachedObject, CachedObject], None] | None = None
    delete: Callable[[CachedObject | DeletedFinalStateUnknown], None] | None = None

    def on_add(self, obj: CachedObject) -> None:
        if self.add is not None:
            self.add(obj)

    def on_update(self, old: CachedObject, new: CachedObject) -> None:
        if self.update is not None:
            self.update(old, new)

    def on_delete(self, obj: CachedObject | DeletedFinalStateUnknown) -> None:
        if self.delete is not None:
            self.delete(obj)


class Informer:
    """List-watches one resource into :attr:`store` and tells handlers about changes.

    Register handlers with :meth:`add_handler` before :meth:`run`; put ``run()`` in a TaskGroup
    (cancelling it stops everything cleanly).
    """

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        transform: Transform = trim_object,
        options: ReflectorOptions | None = None,
        rng: random.Random | None = None,
        metrics: InformerMetricsProvider | None = None,
    ) -> None:
        """``metrics``: the provider to report to; None: the client's."""
        metrics = client.metrics if metrics is None else metrics
        self.resource = resource
        self.store = Store(indexers)
        self._transform = transform
        self._handlers: list[EventHandler] = []
        self._pending: deque[tuple[int, Any, Any]] = deque()
        self._wakeup = asyncio.Event()
        self._synced = asyncio.Event()
        self._listed = False
        self._running = False
        self._cached = metrics.informer_cached_objects(str(resource))
        self._reflector = Reflector(
            client,
            resource,
            self,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            options=options or ReflectorOptions(),
            rng=rng,
            lean=transform is trim_object,
            metrics=metrics,
        )

    def add_handler(self, handler: EventHandler) -> None:
        if self._running:
            raise RuntimeError("add handlers before the informer runs")
        self._handlers.append(handler)

    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    async def run(self) -> None:
        if self._running:
            raise RuntimeError("an informer runs once")
        self._running = True
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._dispatch(), name=f"informer-dispatch-{self.resource}")
            tasks.create_task(self._reflector.run(), name=f"informer-reflect-{self.resource}")

    # --- Sink (called by the reflector) ---------------------------------------------------------

    async def upsert(self, items: list[dict[str, Any]]) -> None:
        for count, item in enumerate(items, 1):
            obj = self._transform(item)
            self._upsert(CachedObject.encode(obj), obj)
            if count % _YIELD_EVERY == 0:
                await asyncio.sleep(0)

    def prune(self, keep: set[str]) -> None:
        for key in [key for key in self.store.list_keys() if key not in keep]:
            old = self.store.delete(key)
            if old is not None:
                self._notify(_DELETE, DeletedFinalStateUnknown(key, old))
        self._cached.set(len(self.store))
        if not self._listed:
            self._listed = True
            self._notify(_SYNCED, None)

    def apply(self, event: WatchEvent) -> None:
        cached, decoded = event.cached, None
        if cached is None:
            decoded = self._transform(event.obj)  # type: ignore[arg-type]
            cached = CachedObject.encode(decoded)
        event_type = event.type
        if event_type in ("MODIFIED", "ADDED"):
            self._upsert(cached, decoded)
        elif event_type == "DELETED":
            if self.store.delete(cached.key) is not None:
                self._notify(_DELETE, cached)
                self._cached.set(len(self.store))
        else:
            raise WatchProtocolError(f"cannot apply a {event_type} event")

    def _upsert(self, obj: CachedObject, decoded: dict[str, Any] | None) -> None:
        old = self.store.put(obj, decoded=decoded)
        if old is None:
            self._notify(_ADD, obj)
            self._cached.set(len(self.store))
        elif old.uid != obj.uid:
            self._notify(_DELETE, old)
            self._notify(_ADD, obj)
        else:
            self._notify(_UPDATE, old, obj)

    # --- delivery -------------------------------------------------------------------------------

    def _notify(self, kind: int, first: Any, second: Any = None) -> None:
        self._pending.append((kind, first, second))
        self._wakeup.set()

    async def _dispatch(self) -> None:
        pending = self._pending
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            delivered = 0
            while pending:
                kind, first, second = pending.popleft()
                if kind == _SYNCED:
                    self._synced.set()
                else:
                    self._deliver(kind, first, second)
                delivered += 1
                if delivered % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)

    def _deliver(self, kind: int, first: Any, second: Any) -> None:
        for handler in self._handlers:
            try:
                if kind == _ADD:
                    handler.on_add(first)
                elif kind == _UPDATE:
                    handler.on_update(first, second)
                else:
                    handler.on_delete(first)
            except Exception:
                log.exception("%s event handler failed; continuing", self.resource)
