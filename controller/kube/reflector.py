"""The reflector: keeps a sink in step with the API server by list-then-watch
(client-go ``tools/cache/reflector.go``).

Invariants:
- A list (paged, a consistent read: RV unset) replaces the sink's content: every listed object is
  upserted, then every key the list did not contain is pruned. A watch then starts from the
  *list's* resourceVersion, never from an item's.
- Every watch event's RV becomes the resume point; RVs are compared for equality only. Watches
  never start from RV ""/"0", so no synthetic initial events ever move the resume point.
- A watch ended by the server (timeoutSeconds, drawn from ``watch_timeout``), by the client-side
  inactivity timeout or by a dropped connection resumes from the last RV without a relist.
  410 Gone, any other API or protocol error, and a clean close within 1 s with no event
  (client-go's VeryShortWatch) relist. 429 and refused connections re-watch from the same RV
  after a backoff. Every relist waits a backoff first (0.8 s doubling, jittered, capped at
  30 s, reset after 2 healthy minutes).
- The reader never awaits the sink's consumers: ``Sink.apply`` is synchronous and must not
  block; ``Sink.upsert`` may yield to the loop between objects. The reader takes the watch's
  buffered lines in batches of at most ``_BATCH``, decodes and applies them one by one (so a
  decoded object dies young, before the garbage collector promotes it), and yields to the
  loop after each batch: a backlog of buffered bytes never monopolises the event loop (lease
  renewals run on the same loop).
- ``informer_events`` counts every event of a known type the reflector handled; the counts of
  a batch are added when the batch is done (or fails), not one ``inc`` per event.
- With ``lean=True`` the watch decodes lean events (:mod:`controller.kube.watchevents`): the
  sink gets ``WatchEvent.cached`` objects already trimmed like ``trim_object`` (or, for lines
  that cannot be decoded lean, ``WatchEvent.obj`` dicts as without it).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from controller.kube.backoff import Backoff
from controller.kube.client import KubeClient
from controller.kube.errors import ApiError, Gone, TooManyRequests
from controller.kube.metrics import NO_METRICS, InformerMetricsProvider
from controller.kube.resource import Resource, object_key
from controller.kube.watchevents import WatchEvent, WatchProtocolError

log = logging.getLogger(__name__)

WATCH_EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED", "BOOKMARK")
VERY_SHORT_WATCH = 1.0
_BATCH = 128  # events handled between yields to the loop


class Sink(Protocol):
    """Where the reflector puts what it learns (the informer)."""

    async def upsert(self, items: list[dict[str, Any]]) -> None:
        """One list page: add or update each object."""

    def prune(self, keep: set[str]) -> None:
        """A list is complete: every cached key not in ``keep`` vanished on the server."""

    def apply(self, event: WatchEvent) -> None:
        """One ADDED/MODIFIED/DELETED watch event (``event.obj`` or ``event.cached`` set)."""


@dataclass(frozen=True, slots=True)
class ReflectorOptions:
    page_size: int = 500
    watch_timeout: tuple[int, int] = (300, 600)
    inactivity_timeout: float = 90.0
    backoff_initial: float = 0.8
    backoff_cap: float = 30.0
    backoff_reset: float = 120.0

    def __post_init__(self) -> None:
        low, high = self.watch_timeout
        if not 1 <= low <= high:
            raise ValueError("watch_timeout must be (low, high) seconds with 1 <= low <= high")
        if self.page_size < 1 or self.inactivity_timeout <= 0:
            raise ValueError("page_size must be >= 1 and inactivity_timeout > 0")


class _Relist(Exception):
    """The watch cannot be resumed: list again (after a backoff)."""


class Reflector:
    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        sink: Sink,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        options: ReflectorOptions = ReflectorOptions(),
        rng: random.Random | None = None,
        clock: Callable[[], float] | None = None,
        lean: bool = False,
        metrics: InformerMetricsProvider = NO_METRICS,
    ) -> None:
        self.client = client
        self.lean = lean
        self.resource = resource
        self.sink = sink
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.options = options
        self._rng = rng or random.Random()  # noqa: S311 (load spreading, not cryptography)
        self._clock = clock or time.monotonic
        self._backoff = Backoff(
            options.backoff_initial,
            cap=options.backoff_cap,
            reset_after=options.backoff_reset,
            clock=self._clock,
            rng=self._rng,
        )
        self._lists = 0
        label = str(resource)
        self._events = {t: metrics.informer_events(label, t) for t in WATCH_EVENT_TYPES}
        self._counts = dict.fromkeys(WATCH_EVENT_TYPES, 0)  # of the current batch
        self._relists = metrics.informer_relists(label)
        self._label = label
        self._metrics = metrics

    async def run(self) -> None:
        """Lists and watches until cancelled; every failure is logged and retried."""
        while True:
            try:
                resource_version = await self._list()
                await self._watch(resource_version)
            except (
                _Relist,
                ApiError,
                aiohttp.ClientError,
                TimeoutError,
                WatchProtocolError,
            ) as exc:
                log.info("relisting %s: %s", self._label, _describe(exc))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("relisting %s after a malformed response: %r", self._label, exc)
            await asyncio.sleep(self._backoff.next())

    async def _list(self) -> str:
        """A full paged list into the sink; returns the list's resourceVersion."""
        if self._lists:
            self._relists.inc()
        self._lists += 1
        seen: set[str] = set()
        token: str | None = None
        limit: int | None = self.options.page_size
        while True:
            try:
                page = await self.client.list(
                    self.resource,
                    self.namespace,
                    label_selector=self.label_selector,
                    field_selector=self.field_selector,
                    limit=limit,
                    continue_=token,
                )
            except Gone:
                if token is None:
                    raise
                # The continue token expired mid-way: one unpaged list instead (client-go pager).
                seen.clear()
                token, limit = None, None
                continue
            items: list[dict[str, Any]] = page.get("items") or []
            for item in items:
                item.setdefault("apiVersion", self.resource.api_version)
                item.setdefault("kind", self.resource.kind)
            seen.update(object_key(item) for item in items)  # before a transform sees them
            await self.sink.upsert(items)
            meta = page["metadata"]
            token = meta.get("continue") or None
            if token is None:
                self.sink.prune(seen)
                return str(meta["resourceVersion"])

    async def _watch(self, resource_version: str) -> None:
        """Watches from ``resource_version`` until a relist is needed (raises _Relist)."""
        low, high = self.options.watch_timeout
        while True:
            started, count = self._clock(), 0
            try:
                async with self.client.watch(
                    self.resource,
                    self.namespace,
                    resource_version=resource_version,
                    timeout_seconds=self._rng.randint(low, high),
                    label_selector=self.label_selector,
                    field_selector=self.field_selector,
                    inactivity_timeout=self.options.inactivity_timeout,
                    lean=self.lean,
                ) as stream:
                    decode = stream.decode
                    while lines := await stream.next_lines(_BATCH):
                        try:
                            for line in lines:  # decoded one by one: no batch of objects
                                event = decode(line)
                                count += 1
                                resource_version = self._handle(event)
                        finally:
                            self._count_events()
                        await asyncio.sleep(0)  # buffered bytes never starve other tasks
            except Gone as exc:
                self._restarted("gone")
                raise _Relist("watch expired (410)") from exc
            except (TooManyRequests, aiohttp.ClientConnectorError) as exc:
                self._restarted("error")
                log.info("watch of %s refused, retrying: %s", self._label, _describe(exc))
                await asyncio.sleep(self._backoff.next())
                continue
            except TimeoutError:
                self._restarted("timeout")
                continue
            except aiohttp.ClientError as exc:
                self._restarted("error")
                if count == 0:
                    await asyncio.sleep(self._backoff.next())
                log.info("watch of %s broke, resuming: %s", self._label, _describe(exc))
                continue
            except (ApiError, WatchProtocolError):
                self._restarted("error")
                raise
            self._restarted("closed")
            if count == 0 and self._clock() - started < VERY_SHORT_WATCH:
                raise _Relist("very short watch: closed at once without events")

    def _handle(self, event: WatchEvent) -> str:
        """Applies one event; returns its resourceVersion (the new resume point)."""
        event_type = event.type
        counts = self._counts
        if event_type not in counts:
            raise WatchProtocolError(f"unknown watch event type {event_type!r}")
        counts[event_type] += 1
        resource_version = event.resource_version
        if resource_version is None:
            try:
                resource_version = str((event.obj or {})["metadata"]["resourceVersion"])
            except (KeyError, TypeError):
                raise WatchProtocolError(
                    f"{event_type} event without metadata.resourceVersion"
                ) from None
        if event_type != "BOOKMARK":
            self.sink.apply(event)
        return resource_version

    def _count_events(self) -> None:
        counts = self._counts
        for event_type, count in counts.items():
            if count:
                self._events[event_type].inc(count)
                counts[event_type] = 0

    def _restarted(self, reason: str) -> None:
        self._metrics.informer_watch_restarts(self._label, reason).inc()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
