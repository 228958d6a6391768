"""The Event recorder: events.k8s.io/v1 Events with series, never blocking the caller.

Invariants:
- ``record`` is synchronous and never awaits the API: it validates, passes the per-object spam
  filter (burst 25, one more every 300 s), and queues at most one pending write per series in a
  bounded queue (1000); beyond that the newest observation is dropped and counted.
- A repeat of the same (regarding, type, reason, action, note) within 6 minutes of the previous
  observation joins that Event's ``series`` (a merge PATCH of ``{count, lastObservedTime}``)
  instead of creating a new Event. Observations arriving while a write is queued are coalesced.
- Notes pass through ``redact_text`` and are cut to 1 kB; ``reportingInstance`` to 128 chars.
- ``run`` owns the only tasks that talk to the API: ``WRITERS`` of them, so a slow API server
  does not make the queue overflow at a hundred issuances a second (client-go writes one at a
  time); a series is never written by two of them at once. Transient failures are retried a
  few times, then the write is dropped with a log line; nothing is ever raised into
  ``record``'s callers. An Event for a namespace that is gone or being deleted cannot be
  written: it is dropped at debug level (fate ``namespace_gone``), not logged as a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, Protocol

import aiohttp

from controller.clock import Clock, SystemClock, rfc3339_micro
from controller.kube.errors import AlreadyExists, ApiError, Forbidden, NotFound
from controller.kube.metrics import NO_METRICS, EventMetricsProvider
from controller.kube.resource import EVENTS, Resource
from controller.observability.redact import redact_text
from controller.tokenbucket import TokenBucket

EventType = Literal["Normal", "Warning"]
EVENT_TYPES: Final = ("Normal", "Warning")

QUEUE_SIZE: Final = 1000
SERIES_WINDOW: Final = 360.0  # seconds without a repeat after which a series is finished
SPAM_BURST: Final = 25
SPAM_REFILL_RATE: Final = 1 / 300
WRITERS: Final = 4  # Event writes in flight at once
CACHE_ENTRIES: Final = 4096  # client-go's maxLruCacheEntries, for series and spam filters
FIELD_LIMIT: Final = 128  # reason, action, reportingInstance
NOTE_LIMIT_BYTES: Final = 1024
NAME_LIMIT: Final = 253
_REFERENCE_FIELDS: Final = ("apiVersion", "kind", "namespace", "name", "uid", "fieldPath")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_QUALIFIED_NAME = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)

log = logging.getLogger(__name__)


class EventsApi(Protocol):
    """The two calls the recorder needs; a structural subset of ``KubeClient``."""

    async def create(
        self, res: Resource, body: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def patch(
        self, res: Resource, name: str, patch: dict[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]: ...


def object_reference(obj: Mapping[str, Any]) -> dict[str, str]:
    """The ``regarding`` reference of an object: apiVersion, kind, namespace, name, uid."""
    meta = obj.get("metadata") or {}
    fields = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
    }
    return {k: str(v) for k, v in fields.items() if v}


RefKey = tuple[str, ...]
SeriesKey = tuple[RefKey, EventType, str, str, str]


@dataclass(slots=True)
class _Series:
    """One Event on the server and the observations folded into it."""

    event_type: EventType
    namespace: str
    name: str
    body: dict[str, Any]  # the Event as first created, without ``series``
    count: int
    last_observed: datetime
    last_observed_mono: float
    created: bool = False
    pending: bool = False  # queued for a write
    writing: bool = False  # a writer is sending it
    again: bool = False  # observed again while being written: queue it once that is done


class EventRecorder:
    """Records Events for one controller instance; put ``run()`` in the app's TaskGroup."""

    def __init__(
        self,
        api: EventsApi,
        *,
        controller: str,
        instance: str,
        clock: Clock | None = None,
        attempts: int = 3,
        retry_delay: float = 1.0,
        call_timeout: float = 30.0,
        metrics: EventMetricsProvider = NO_METRICS,
    ) -> None:
        if not _QUALIFIED_NAME.match(controller):
            raise ValueError(
                f"reportingController must be a qualified name like 'example.com/x': {controller!r}"
            )
        if not instance:
            raise ValueError("reportingInstance must not be empty")
        if attempts < 1 or retry_delay < 0 or call_timeout <= 0:
            raise ValueError("need attempts >= 1, retry_delay >= 0 and call_timeout > 0")
        self._api = api
        self.controller = controller
        self.instance = instance[:FIELD_LIMIT]
        self._clock = clock or SystemClock()
        self._attempts = attempts
        self._retry_delay = retry_delay
        self._call_timeout = call_timeout
        self._metrics = metrics
        self._pending: deque[_Series] = deque()
        self._wakeup = asyncio.Event()
        self._series: OrderedDict[SeriesKey, _Series] = OrderedDict()
        self._spam: OrderedDict[RefKey, TokenBucket] = OrderedDict()
        self._last_name_nanos = 0
        self._overflowing = False

    @property
    def backlog(self) -> int:
        """Writes queued and not yet started."""
        return len(self._pending)

    def record(
        self,
        regarding: Mapping[str, Any],
        type: EventType,
        reason: str,
        action: str,
        note: str = "",
    ) -> None:
        """Queues an Event about ``regarding`` (an object reference); returns immediately.

        Raises ``ValueError`` only for a malformed call (bad type, empty or over-long reason or
        action, a reference without kind or name); API trouble is never raised here.
        """
        _validate(regarding, type, reason, action)
        ref = tuple(str(regarding.get(f) or "") for f in _REFERENCE_FIELDS)
        if not self._spam_filter_allows(ref):
            self._metrics.events_emitted(type, "dropped").inc()
            log.debug("event %s/%s about %s dropped by the spam filter", reason, action, ref)
            return
        note = _truncate_utf8(redact_text(note), NOTE_LIMIT_BYTES)
        key: SeriesKey = (ref, type, reason, action, note)
        mono, now = self._clock.monotonic(), self._clock.now()
        self._finish_series(mono)
        series = self._series.get(key)
        if (series is None or not series.pending) and len(self._pending) >= QUEUE_SIZE:
            self._metrics.events_emitted(type, "dropped").inc()
            if not self._overflowing:
                log.warning("event queue full (%d): dropping new events", QUEUE_SIZE)
                self._overflowing = True
            return
        if series is None:
            series = self._new_series(key, now, mono)
            self._series[key] = series
            if len(self._series) > CACHE_ENTRIES:
                self._series.popitem(last=False)
        else:
            series.count += 1
            series.last_observed, series.last_observed_mono = now, mono
            self._series.move_to_end(key)
        if not series.pending:
            series.pending = True
            self._pending.append(series)
            self._wakeup.set()

    async def run(self) -> None:
        """Writes queued Events with ``WRITERS`` tasks, forever; cancel it to stop."""
        async with asyncio.TaskGroup() as writers:
            for number in range(WRITERS):
                writers.create_task(self._writer(), name=f"event-writer-{number}")

    async def _writer(self) -> None:
        while True:
            while not self._pending:
                self._overflowing = False
                self._wakeup.clear()
                await self._wakeup.wait()
            series = self._pending.popleft()
            series.pending = False
            if series.writing:  # another writer has it: it queues it again when done
                series.again = True
                continue
            series.writing = True
            try:
                await self._write(series)
            finally:
                series.writing = False
                if series.again and not series.pending:
                    series.again, series.pending = False, True
                    self._pending.append(series)
                    self._wakeup.set()

    def _spam_filter_allows(self, ref: RefKey) -> bool:
        bucket = self._spam.get(ref)
        if bucket is None:
            bucket = TokenBucket(SPAM_REFILL_RATE, SPAM_BURST, self._clock.monotonic)
            self._spam[ref] = bucket
            if len(self._spam) > CACHE_ENTRIES:
                self._spam.popitem(last=False)
        else:
            self._spam.move_to_end(ref)
        if bucket.tokens() < 1:
            return False
        bucket.reserve()
        return True

    def _finish_series(self, mono: float) -> None:
        """Forgets series not observed for SERIES_WINDOW (the cache is in observation order)."""
        while self._series:
            oldest = next(iter(self._series.values()))
            if mono - oldest.last_observed_mono <= SERIES_WINDOW:
                return
            self._series.popitem(last=False)

    def _new_series(self, key: SeriesKey, now: datetime, mono: float) -> _Series:
        ref, event_type, reason, action, note = key
        regarding = {f: v for f, v in zip(_REFERENCE_FIELDS, ref, strict=True) if v}
        namespace = regarding.get("namespace") or "default"
        name = self._event_name(regarding["name"], now)
        body: dict[str, Any] = {
            "apiVersion": EVENTS.api_version,
            "kind": EVENTS.kind,
            "metadata": {"name": name, "namespace": namespace},
            "eventTime": rfc3339_micro(now),
            "reportingController": self.controller,
            "reportingInstance": self.instance,
            "action": action,
            "reason": reason,
            "type": event_type,
            "regarding": regarding,
        }
        if note:
            body["note"] = note
        return _Series(event_type, namespace, name, body, 1, now, mono)

    def _event_name(self, regarding_name: str, now: datetime) -> str:
        """``<regarding name>.<unix nanos in hex>`` (client-go's form), unique per recorder."""
        nanos = (now - _EPOCH) // timedelta(microseconds=1) * 1000
        nanos = max(nanos, self._last_name_nanos + 1)
        self._last_name_nanos = nanos
        suffix = f".{nanos:x}"
        return regarding_name[: NAME_LIMIT - len(suffix)].rstrip(".-") + suffix

    async def _write(self, series: _Series) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                async with asyncio.timeout(self._call_timeout):
                    fate = await self._send(series)
            except Exception as exc:
                if _namespace_gone(exc):
                    self._metrics.events_emitted(series.event_type, "namespace_gone").inc()
                    log.debug("event %s/%s not written: %s", series.namespace, series.name, exc)
                    return
                transient = _is_transient(exc)
                if transient and attempt < self._attempts:
                    await asyncio.sleep(self._retry_delay * 2 ** (attempt - 1))
                    continue
                self._metrics.events_emitted(series.event_type, "failed").inc()
                log.warning(
                    "dropping event %s/%s (%s attempt(s)): %s",
                    series.namespace,
                    series.name,
                    attempt,
                    redact_text(f"{type(exc).__name__}: {exc}"),
                    exc_info=None if transient or isinstance(exc, ApiError) else exc,
                )
                return
            self._metrics.events_emitted(series.event_type, fate).inc()
            return

    async def _send(self, series: _Series) -> Literal["created", "series"]:
        """Creates the Event, or patches its series; re-creates it if it expired meanwhile."""
        count, last = series.count, rfc3339_micro(series.last_observed)
        patch = {"series": {"count": count, "lastObservedTime": last}}
        if series.created:
            try:
                await self._api.patch(EVENTS, series.name, patch, namespace=series.namespace)
                return "series"
            except NotFound:
                series.created = False  # garbage-collected (event TTL): create it again
        body = series.body | patch if count > 1 else series.body
        with contextlib.suppress(AlreadyExists):  # a lost answer to an earlier attempt
            await self._api.create(EVENTS, body, namespace=series.namespace)
        series.created = True
        return "created"


def _validate(regarding: Mapping[str, Any], event_type: str, reason: str, action: str) -> None:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"event type must be Normal or Warning, got {event_type!r}")
    for field, value in (("reason", reason), ("action", action)):
        if not value or len(value) > FIELD_LIMIT:
            raise ValueError(f"event {field} must be 1..{FIELD_LIMIT} characters, got {value!r}")
    if not regarding.get("kind") or not regarding.get("name"):
        raise ValueError(f"the regarding reference needs kind and name, got {dict(regarding)!r}")


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode(errors="ignore") + "..."


def _namespace_gone(exc: Exception) -> bool:
    """The Event's namespace does not exist (404 on create) or is terminating (403)."""
    if isinstance(exc, NotFound):
        return (exc.body.get("details") or {}).get("kind") == "namespaces"
    return isinstance(exc, Forbidden) and "being terminated" in exc.message


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, ApiError):
        return exc.retryable
    return isinstance(exc, TimeoutError | OSError | aiohttp.ClientError)
