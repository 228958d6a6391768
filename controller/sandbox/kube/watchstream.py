"""One watch request: HTTP 200, then newline-delimited JSON events until the server timeout.

Follows the cacher (kube-runtime.md §4.3): RV unset or "0" → synthetic ADDED for the current
state; RV N → only events after N; N older than the retained history → a single ERROR event
with a 410 Status; bookmarks every ``bookmark_interval`` and 2 s before the deadline when
asked; the deadline ends the stream cleanly; a closed (slow or dropped) watcher ends it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from .requestinfo import query_bool
from .resources import Obj, ResourceType
from .selectors import Predicate
from .status import StatusError, bad_request, gone, too_large_resource_version
from .store import Store
from .watch import Delivery, Watcher

INITIAL_EVENTS_END = "k8s.io/initial-events-end"
WRITE_BATCH = 512

#: renders one delivery's object in the response's form (plain object or one-row Table)
Render = Callable[[str, Obj, bool], bytes]


@dataclass(frozen=True, slots=True)
class WatchSettings:
    bookmark_interval: float = 60.0
    capacity: int = 10_000
    min_request_timeout: float = 1800.0


@dataclass(frozen=True, slots=True)
class WatchRequest:
    rt: ResourceType
    namespace: str | None
    matches: Predicate
    resource_version: str
    bookmarks: bool
    send_initial_events: bool
    timeout: float


def parse_watch(
    rt: ResourceType,
    namespace: str | None,
    matches: Predicate,
    query: dict[str, str],
    settings: WatchSettings,
) -> WatchRequest:
    raw_timeout = query.get("timeoutSeconds")
    if raw_timeout:
        try:
            timeout = float(int(raw_timeout))
        except ValueError:
            raise bad_request(f"invalid timeoutSeconds: {raw_timeout!r}") from None
    else:
        base = settings.min_request_timeout
        timeout = random.uniform(base, 2 * base)
    send_initial = query_bool(query.get("sendInitialEvents"))
    bookmarks = query_bool(query.get("allowWatchBookmarks"))
    if send_initial and (not bookmarks or query.get("resourceVersionMatch") != "NotOlderThan"):
        raise StatusError(
            422,
            "Invalid",
            "sendInitialEvents requires allowWatchBookmarks=true "
            "and resourceVersionMatch=NotOlderThan",
        )
    rv = query.get("resourceVersion", "")
    if rv not in ("", "0") and not rv.isdigit():
        raise bad_request(f"invalid resourceVersion: {rv!r}")
    return WatchRequest(rt, namespace, matches, rv, bookmarks, send_initial, timeout)


def plain_render(rt: ResourceType) -> Render:
    def render(kind: str, obj: Obj, first: bool) -> bytes:
        view = obj if rt.same_form else rt.encode(obj)
        return orjson.dumps({"type": kind, "object": view})

    return render


class WatchStream:
    def __init__(
        self, store: Store, settings: WatchSettings, gate: Callable[[], Awaitable[None]]
    ) -> None:
        self.store = store
        self.settings = settings
        self.gate = gate

    async def serve(
        self, request: web.Request, req: WatchRequest, render: Render, shared_render: bool
    ) -> web.StreamResponse:
        """``shared_render``: the rendering only depends on the event (cache it per event)."""
        coll = self.store.collection(req.rt.storage)
        watcher = Watcher(req.rt, req.namespace, req.matches, capacity=self.settings.capacity)
        initial: list[Delivery] = []
        error: StatusError | None = None
        if req.resource_version in ("", "0") or req.send_initial_events:
            for obj in self.store.objects(req.rt.storage, req.namespace):
                if req.matches(obj if req.rt.same_form else req.rt.encode(obj)):
                    initial.append(Delivery("ADDED", obj, None))
        else:
            since = int(req.resource_version)
            if since > self.store.rv:
                error = too_large_resource_version(since, self.store.rv)
            elif since < coll.floor:
                error = gone(f"too old resource version: {since} ({coll.floor + 1})")
            else:
                for event in coll.since(since):
                    watcher.offer(event)
                watcher.capacity += len(watcher.queue)
        if error is None:
            coll.watchers.add(watcher)
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            if error is not None:
                body = error.body()
                await response.write(orjson.dumps({"type": "ERROR", "object": body}) + b"\n")
                return response
            await self._stream(response, req, watcher, initial, render=render, shared=shared_render)
        except ConnectionResetError:  # the client went away: nothing left to send
            watcher.close()
            return response
        except asyncio.CancelledError:
            watcher.close()
            raise
        finally:
            coll.watchers.discard(watcher)
        with contextlib.suppress(ConnectionResetError):  # the client went away first
            await response.write_eof()
        return response

    def _bookmark(self, rt: ResourceType, initial_end: bool) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(self.store.rv)}
        if initial_end:
            meta["annotations"] = {INITIAL_EVENTS_END: "true"}
        obj = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}
        return orjson.dumps({"type": "BOOKMARK", "object": obj}) + b"\n"

    async def _stream(
        self,
        response: web.StreamResponse,
        req: WatchRequest,
        watcher: Watcher,
        initial: list[Delivery],
        *,
        render: Render,
        shared: bool,
    ) -> None:
        start = time.monotonic()
        deadline = start + req.timeout
        first = True

        def encode(delivery: Delivery) -> bytes:
            nonlocal first
            event = delivery.event
            if shared and event is not None:
                line = event.encoded.get(req.rt.api_version)
                if line is None:
                    line = event.encoded[req.rt.api_version] = (
                        render(delivery.type, delivery.obj, False) + b"\n"
                    )
                first = False
                return line
            line = render(delivery.type, delivery.obj, first) + b"\n"
            first = False
            return line

        for i in range(0, len(initial), WRITE_BATCH):
            await response.write(b"".join(encode(d) for d in initial[i : i + WRITE_BATCH]))
        if req.send_initial_events:
            await response.write(self._bookmark(req.rt, initial_end=True))
        bookmarks = req.bookmarks
        interval = self.settings.bookmark_interval
        next_bookmark = start + interval
        final_bookmark = deadline - 2.0 if req.timeout > 2.0 else None
        while True:
            now = time.monotonic()
            if now >= deadline:
                return
            wake = deadline
            if bookmarks:
                wake = min(wake, next_bookmark)
                if final_bookmark is not None:
                    wake = min(wake, final_bookmark)
            await watcher.wait(max(0.0, wake - now))
            await self.gate()
            while watcher.queue:
                batch = watcher.drain()
                for i in range(0, len(batch), WRITE_BATCH):
                    await response.write(b"".join(encode(d) for d in batch[i : i + WRITE_BATCH]))
            if watcher.closed:
                return
            now = time.monotonic()
            if (
                bookmarks
                and not watcher.queue
                and (now >= next_bookmark or (final_bookmark is not None and now >= final_bookmark))
            ):
                await response.write(self._bookmark(req.rt, initial_end=False))
                next_bookmark = now + interval
                if final_bookmark is not None and now >= final_bookmark:
                    final_bookmark = None
