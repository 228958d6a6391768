"""The events.k8s.io/v1 recorder, against a fake API that validates like the API server."""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from controller.clock import FakeClock, parse_rfc3339, rfc3339_micro
from controller.kube import events as events_module
from controller.kube.errors import AlreadyExists, ApiError, Forbidden, NotFound
from controller.kube.events import QUEUE_SIZE, WRITERS, EventRecorder, object_reference
from controller.kube.resource import EVENTS, Resource
from controller.observability.metrics import KUBE_METRICS
from controller.observability.redact import register_secret

MICROTIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
CR = {"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest", "namespace": "ns"}


def ref(name: str = "cr-1", **fields: str) -> dict[str, str]:
    return {**CR, "name": name, "uid": f"uid-{name}", **fields}


def validate_event(body: dict[str, Any]) -> None:
    """The API server's events.k8s.io/v1 create validation, as far as the recorder can break it."""
    assert body["apiVersion"] == "events.k8s.io/v1"
    assert body["kind"] == "Event"
    assert MICROTIME.match(body["eventTime"])
    assert body["reportingController"]
    assert 0 < len(body["reportingInstance"]) <= 128
    assert 0 < len(body["action"]) <= 128
    assert 0 < len(body["reason"]) <= 128
    assert body["type"] in ("Normal", "Warning")
    assert len(body.get("note", "").encode()) <= 1024
    assert len(body["metadata"]["name"]) <= 253
    if "series" in body:
        assert body["series"]["count"] >= 2
        assert MICROTIME.match(body["series"]["lastObservedTime"])


class FakeEventsApi:
    def __init__(self) -> None:
        self.events: dict[tuple[str | None, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.failures: deque[BaseException] = deque()
        self.in_flight = 0
        self.hang = False

    async def _call(self, verb: str, name: str) -> None:
        self.calls.append((verb, name))
        if self.hang:
            await asyncio.Event().wait()
        if self.failures:
            raise self.failures.popleft()

    async def create(
        self, res: Resource, body: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        assert res is EVENTS
        name = body["metadata"]["name"]
        await self._call("create", name)
        validate_event(body)
        assert namespace == body["metadata"]["namespace"]
        if (namespace, name) in self.events:
            raise AlreadyExists(409, "AlreadyExists", f"events {name} already exists")
        self.events[namespace, name] = copy.deepcopy(body)
        return body

    async def patch(
        self, res: Resource, name: str, patch: dict[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]:
        assert res is EVENTS
        await self._call("patch", name)
        if (namespace, name) not in self.events:
            raise NotFound(404, "NotFound", f"events {name} not found")
        event = self.events[namespace, name]
        event.update(copy.deepcopy(patch))
        validate_event(event)
        return event


def fate(event_type: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "zerossl_issuer_kube_events_total", {"type": event_type, "fate": outcome}
    )
    return 0.0 if value is None else value


def make(api: FakeEventsApi, clock: FakeClock, **options: Any) -> EventRecorder:
    settings: dict[str, Any] = {
        "controller": "zerossl.issuer.dev/controller",
        "instance": "pod-0",
        "retry_delay": 0.0,
    }
    return EventRecorder(api, clock=clock, metrics=KUBE_METRICS, **(settings | options))


@asynccontextmanager
async def running(recorder: EventRecorder) -> AsyncIterator[None]:
    task = asyncio.create_task(recorder.run())
    try:
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def settle(recorder: EventRecorder) -> None:
    """Yields until the writer has nothing queued and stayed idle for a few turns."""
    idle = 0
    for _ in range(10_000):
        await asyncio.sleep(0)
        idle = idle + 1 if recorder.backlog == 0 else 0
        if idle > 20:
            return
    raise AssertionError("the recorder never went idle")


async def test_record_returns_at_once_and_run_creates_a_valid_event() -> None:
    api, clock = FakeEventsApi(), FakeClock()
    recorder = make(api, clock, instance="i" * 300)
    recorder.record(ref(), "Warning", "Failed", "Issuing", "ZeroSSL said no")
    assert api.calls == [], "record must not call the API"
    async with running(recorder):
        await settle(recorder)
    [(namespace, name)] = api.events
    event = api.events[namespace, name]
    assert namespace == "ns"
    assert re.fullmatch(r"cr-1\.[0-9a-f]+", name)
    assert parse_rfc3339(event["eventTime"]) == clock.now()
    assert event["reportingInstance"] == "i" * 128
    assert event["regarding"] == ref()
    assert (event["type"], event["reason"], event["action"], event["note"]) == (
        "Warning",
        "Failed",
        "Issuing",
        "ZeroSSL said no",
    )
    assert "series" not in event


async def test_repeats_within_six_minutes_patch_the_series_then_a_new_event_starts() -> None:
    api, clock = FakeEventsApi(), FakeClock()
    recorder = make(api, clock)
    async with running(recorder):
        for _ in range(3):
            recorder.record(ref(), "Normal", "Pending", "Polling", "waiting for validation")
            await settle(recorder)
            clock.advance(300)  # each repeat is within 6 minutes of the previous one
        clock.advance(61)  # now 361 s after the last observation: the series is finished
        recorder.record(ref(), "Normal", "Pending", "Polling", "waiting for validation")
        await settle(recorder)
    assert [verb for verb, _ in api.calls] == ["create", "patch", "patch", "create"]
    first, second = (api.events[k] for k in api.events)
    assert first["series"] == {
        "count": 3,
        "lastObservedTime": rfc3339_micro(clock.now() - timedelta(seconds=361)),
    }
    assert "series" not in second
    assert first["metadata"]["name"] != second["metadata"]["name"]


async def test_repeats_queued_together_are_coalesced_into_one_write() -> None:
    api, clock = FakeEventsApi(), FakeClock()
    recorder = make(api, clock)
    for _ in range(5):
        recorder.record(ref(), "Normal", "Pending", "Polling", "same")
        clock.advance(1)
    assert recorder.backlog == 1
    async with running(recorder):
        await settle(recorder)
    assert [verb for verb, _ in api.calls] == ["create"]
    [event] = api.events.values()
    assert event["series"]["count"] == 5


@pytest.mark.parametrize(
    "change",
    [
        {"type": "Warning"},
        {"reason": "Other"},
        {"action": "Other"},
        {"note": "other"},
        {"regarding": ref("cr-2")},
    ],
)
async def test_any_difference_makes_a_separate_event(change: dict[str, Any]) -> None:
    api, clock = FakeEventsApi(), FakeClock()
    recorder = make(api, clock)
    base: dict[str, Any] = {
        "regarding": ref(),
        "type": "Normal",
        "reason": "R",
        "action": "A",
        "note": "n",
    }
    recorder.record(**base)
    recorder.record(**(base | change))
    async with running(recorder):
        await settle(recorder)
    assert [verb for verb, _ in api.calls] == ["create", "create"]


async def test_spam_filter_allows_a_burst_of_25_per_object_then_one_per_300s() -> None:
    api, clock = FakeEventsApi(), FakeClock()
    recorder = make(api, clock)
    dropped_before = fate("Normal", "dropped")
    for i in range(30):
        recorder.record(ref(), "Normal", f"Reason{i}", "A")
    recorder.record(ref("other"), "Normal", "Reason", "A")
    assert fate("Normal", "dropped") - dropped_before == 5
    clock.advance(300)
    recorder.record(ref(), "Normal", "Later", "A")
    recorder.record(ref(), "Normal", "TooSoon", "A")
    async with running(recorder):
        await settle(recorder)
    reasons = {e["reason"] for e in api.events.values()}
    assert len(api.events) == 27
    assert "Later" in reasons
    assert "TooSoon" not in reasons
    assert fate("Normal", "dropped") - dropped_before == 6


async def test_the_queue_is_bounded_and_drops_the_newest() -> None:
    api, clock = FakeEventsApi(), FakeClock()
    recorder = make(api, clock)
    dropped_before = fate("Warning", "dropped")
    for i in range(QUEUE_SIZE + 3):
        recorder.record(ref(f"cr-{i}"), "Warning", "R", "A")
    assert recorder.backlog == QUEUE_SIZE
    assert fate("Warning", "dropped") - dropped_before == 3
    recorder.record(ref("cr-0"), "Warning", "R", "A")  # joins a queued series: no new slot
    assert fate("Warning", "dropped") - dropped_before == 3
    async with running(recorder):
        await settle(recorder)
    assert len(api.events) == QUEUE_SIZE
    assert api.events["ns", api.calls[0][1]]["series"]["count"] == 2


async def test_notes_are_redacted_and_cut_to_1kb_on_a_character_boundary() -> None:
    secret = "ZSSLKEY-0123456789abcdef"
    register_secret(secret)
    api, clock = FakeEventsApi(), FakeClock()
    recorder = make(api, clock)
    recorder.record(ref("a"), "Warning", "R", "A", f"GET /x?access_key={secret}: failed")
    recorder.record(ref("b"), "Warning", "R", "A", "é" * 2000)
    async with running(recorder):
        await settle(recorder)
    notes = [e["note"] for e in api.events.values()]
    assert secret not in notes[0]
    assert "REDACTED" in notes[0]
    assert notes[1].endswith("...")
    assert 1000 < len(notes[1].encode()) <= 1024


async def test_transient_failures_are_retried_then_succeed() -> None:
    api, clock = FakeEventsApi(), FakeClock()
    api.failures.extend([ApiError(503, "ServiceUnavailable"), TimeoutError()])
    recorder = make(api, clock, attempts=3)
    recorder.record(ref(), "Normal", "R", "A")
    async with running(recorder):
        await settle(recorder)
    assert [verb for verb, _ in api.calls] == ["create"] * 3
    assert len(api.events) == 1


async def test_persistent_failures_are_dropped_with_a_log_line_and_the_writer_goes_on(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_module, "WRITERS", 1)  # the failures are consumed in call order
    api, clock = FakeEventsApi(), FakeClock()
    api.failures.extend(
        [ApiError(500, "InternalError")] * 3 + [ApiError(403, "Forbidden"), KeyError("bug")]
    )
    recorder = make(api, clock, attempts=3)
    failed_before = fate("Normal", "failed")
    for name in ("five-hundred", "forbidden", "bug", "fine"):
        recorder.record(ref(name), "Normal", "R", "A")
    with caplog.at_level(logging.WARNING, logger="controller.kube.events"):
        async with running(recorder):
            await settle(recorder)
    assert [name.split(".")[0] for _, name in api.calls] == [
        "five-hundred",
        "five-hundred",
        "five-hundred",
        "forbidden",  # not retryable: one attempt
        "bug",
        "fine",
    ]
    assert len(api.events) == 1
    assert fate("Normal", "failed") - failed_before == 3
    assert sum("dropping event" in r.getMessage() for r in caplog.records) == 3


async def test_events_of_a_namespace_gone_or_terminating_are_dropped_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api, clock = FakeEventsApi(), FakeClock()
    terminating = (
        'events.events.k8s.io "x" is forbidden: unable to create new content in namespace ns '
        "because it is being terminated"
    )
    gone = {"details": {"name": "ns", "kind": "namespaces"}}
    api.failures.extend(
        [
            Forbidden(403, "Forbidden", terminating),
            NotFound(404, "NotFound", 'namespaces "ns" not found', body=gone),
        ]
    )
    recorder = make(api, clock, attempts=3)
    before = fate("Warning", "namespace_gone")
    for name in ("terminating", "gone"):
        recorder.record(ref(name), "Warning", "CancelSkipped", "Issue")
    with caplog.at_level(logging.WARNING, logger="controller.kube.events"):
        async with running(recorder):
            await settle(recorder)
    assert len(api.calls) == 2  # one attempt each, no retry
    assert fate("Warning", "namespace_gone") - before == 2
    assert caplog.records == []


async def test_a_hanging_call_is_bounded_by_the_call_timeout() -> None:
    api, clock = FakeEventsApi(), FakeClock()
    api.hang = True
    recorder = make(api, clock, attempts=2, call_timeout=0.01)
    failed_before = fate("Normal", "failed")
    recorder.record(ref(), "Normal", "R", "A")
    async with running(recorder):
        async with asyncio.timeout(5):
            while fate("Normal", "failed") == failed_before:
                await asyncio.sleep(0.01)
    assert len(api.calls) == 2


async def test_an_expired_event_is_created_again_with_its_series() -> None:
    api, clock = FakeEventsApi(), FakeClock()
    recorder = make(api, clock)
    async with running(recorder):
        recorder.record(ref(), "Normal", "R", "A")
        await settle(recorder)
        api.events.clear()  # the API server's event TTL removed it
        clock.advance(10)
        recorder.record(ref(), "Normal", "R", "A")
        await settle(recorder)
    assert [verb for verb, _ in api.calls] == ["create", "patch", "create"]
    [event] = api.events.values()
    assert event["series"]["count"] == 2


async def test_a_lost_create_answer_is_not_a_failure() -> None:
    api, clock = FakeEventsApi(), FakeClock()
    recorder = make(api, clock)
    created_before = fate("Normal", "created")
    recorder.record(ref(), "Normal", "R", "A")
    recorder_name_taken = asyncio.Event()

    async def create_then_lose_answer(
        res: Resource, body: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        await FakeEventsApi.create(api, res, body, namespace)
        recorder_name_taken.set()
        raise ConnectionResetError("connection lost after sending")

    api.create = create_then_lose_answer  # type: ignore[method-assign]
    async with running(recorder):
        await recorder_name_taken.wait()
        del api.create
        await settle(recorder)
    assert len(api.events) == 1
    assert fate("Normal", "created") - created_before == 1


async def test_cluster_scoped_objects_get_events_in_default_and_names_are_unique() -> None:
    api, clock = FakeEventsApi(), FakeClock()
    recorder = make(api, clock)
    issuer = {"apiVersion": "zerossl.issuer.dev/v1alpha1", "kind": "ZeroSSLClusterIssuer"}
    long_name = "x" * 253
    recorder.record(issuer | {"name": long_name}, "Normal", "R1", "A")
    recorder.record(issuer | {"name": long_name}, "Normal", "R2", "A")  # same instant
    async with running(recorder):
        await settle(recorder)
    assert {ns for ns, _ in api.events} == {"default"}
    assert len({name for _, name in api.events}) == 2


@pytest.mark.parametrize(
    ("regarding", "event_type", "reason", "action", "message"),
    [
        (ref(), "Info", "R", "A", "Normal or Warning"),
        (ref(), "Normal", "", "A", "reason"),
        (ref(), "Normal", "R", "a" * 129, "action"),
        ({"kind": "CertificateRequest"}, "Normal", "R", "A", "kind and name"),
    ],
)
def test_malformed_calls_are_rejected(
    regarding: dict[str, str], event_type: Any, reason: str, action: str, message: str
) -> None:
    recorder = make(FakeEventsApi(), FakeClock())
    with pytest.raises(ValueError, match=message):
        recorder.record(regarding, event_type, reason, action)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"controller": "Not A Name!"}, "qualified name"),
        ({"instance": ""}, "reportingInstance"),
        ({"attempts": 0}, "attempts"),
    ],
)
def test_bad_recorder_settings_are_rejected(options: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"controller": "zerossl.issuer.dev/controller", "instance": "p"}
    with pytest.raises(ValueError, match=message):
        EventRecorder(FakeEventsApi(), **(settings | options))


def test_object_reference_of_an_object() -> None:
    obj = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "metadata": {"name": "cr-1", "namespace": "ns", "uid": "u-1", "resourceVersion": "7"},
        "spec": {},
    }
    assert object_reference(obj) == {
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "name": "cr-1",
        "namespace": "ns",
        "uid": "u-1",
    }


class SlowEventsApi(FakeEventsApi):
    """Each call takes a while; tracks how many are in flight, overall and per Event."""

    def __init__(self) -> None:
        super().__init__()
        self.most_in_flight = 0
        self.busy: set[str] = set()
        self.overlaps: list[str] = []

    async def _call(self, verb: str, name: str) -> None:
        if name in self.busy:
            self.overlaps.append(name)
        self.busy.add(name)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            await super()._call(verb, name)
        finally:
            self.in_flight -= 1
            self.busy.discard(name)


async def test_writes_run_in_parallel_but_never_two_for_one_series() -> None:
    api, clock = SlowEventsApi(), FakeClock()
    recorder = make(api, clock)
    async with running(recorder):
        for n in range(20):
            recorder.record(ref(f"cr-{n}"), "Normal", "Issued", "Sign")
        for _ in range(20):  # one series observed again and again while it is being written
            recorder.record(ref("busy"), "Warning", "Again", "Sign")
            await asyncio.sleep(0.002)
        while recorder.backlog or api.in_flight:
            await asyncio.sleep(0.005)
    assert 1 < api.most_in_flight <= WRITERS
    assert api.overlaps == []
    assert len(api.events) == 21
    (busy,) = [e for e in api.events.values() if e["reason"] == "Again"]
    assert busy["series"]["count"] == 20  # every observation counted in the end
