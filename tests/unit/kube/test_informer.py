"""Informer + reflector against a scripted API server: list, watch, relist, tombstones, faults."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from controller.kube.client import KubeClient
from controller.kube.informer import (
    CachedObject,
    DeletedFinalStateUnknown,
    HandlerFuncs,
    Informer,
)
from controller.kube.kubeconfig import ClusterConfig
from controller.kube.reflector import ReflectorOptions
from controller.kube.resource import Resource
from controller.observability import metrics
from controller.observability.metrics import KUBE_METRICS

WIDGETS = Resource("example.dev", "v1", "widgets", "Widget", namespaced=True)
FAST = ReflectorOptions(
    page_size=2, watch_timeout=(300, 300), backoff_initial=0.01, backoff_cap=0.05
)
WatchScript = Callable[[web.StreamResponse], Awaitable[None]]


def widget(name: str, rv: str, uid: str | None = None, **spec: Any) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns", "resourceVersion": rv, "uid": uid or f"uid-{name}"}
    return {"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": meta, "spec": spec}


def page(items: list[dict[str, Any]], rv: str, cont: str | None = None) -> web.Response:
    meta: dict[str, Any] = {"resourceVersion": rv}
    if cont:
        meta["continue"] = cont
    for item in items:  # lists may omit kind/apiVersion; the reflector fills them in
        item.pop("kind", None)
        item.pop("apiVersion", None)
    return web.Response(body=orjson.dumps({"metadata": meta, "items": items}))


def gone() -> web.Response:
    body = {"kind": "Status", "code": 410, "reason": "Expired", "message": "continue too old"}
    return web.Response(status=410, body=orjson.dumps(body))


def stream(*events: tuple[str, dict[str, Any]], then: str = "hang") -> WatchScript:
    """Writes the events, then: 'hang' (stay open), 'close' (clean end), 'drop' (cut the
    connection), 'stall' (send nothing; the client's inactivity timeout fires)."""

    async def script(response: web.StreamResponse) -> None:
        for kind, obj in events:
            await response.write(orjson.dumps({"type": kind, "object": obj}) + b"\n")
        if then == "close":
            return
        if then == "drop":
            transport = response._req.transport  # type: ignore[union-attr]
            transport.close()
            return
        await asyncio.sleep(3600)

    return script


def expired() -> WatchScript:
    status = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
    return stream(("ERROR", status), then="close")


class ScriptedApi:
    """Serves queued list responses and watch scripts, recording every query."""

    def __init__(self) -> None:
        self.lists: deque[Callable[[], web.Response]] = deque()
        self.watches: deque[WatchScript | Callable[[], web.Response]] = deque()
        self.list_queries: list[dict[str, str]] = []
        self.watch_queries: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        if query.get("watch") != "true":
            self.list_queries.append(query)
            if not self.lists:
                return page([], "1")
            return self.lists.popleft()()
        self.watch_queries.append(query)
        script = self.watches.popleft() if self.watches else stream()
        if not asyncio.iscoroutinefunction(script):  # a refusal instead of a stream
            return script()  # type: ignore[call-arg,return-value]
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await script(response)
        return response


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def handler(self) -> HandlerFuncs:
        def name(o: Any) -> str:
            if isinstance(o, DeletedFinalStateUnknown):
                return f"tombstone:{o.key}"
            return f"{o.name}@{o.resource_version}"

        return HandlerFuncs(
            add=lambda o: self.calls.append(("add", name(o))),
            update=lambda old, new: self.calls.append(("update", name(old), name(new))),
            delete=lambda o: self.calls.append(("delete", name(o))),
        )


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.fixture
async def harness() -> AsyncIterator[Callable[..., Awaitable[tuple[Informer, Recorder]]]]:
    api = ScriptedApi()
    app = web.Application()
    app.router.add_get("/{tail:.*}", api.handle)
    server = TestServer(app)
    await server.start_server()
    client = KubeClient.from_config(
        ClusterConfig(str(server.make_url(""))), timeout=5.0, metrics=KUBE_METRICS
    )
    tasks: list[asyncio.Task[None]] = []

    async def start(*extra_handlers: HandlerFuncs, **options: Any) -> tuple[Informer, Recorder]:
        options.setdefault("options", FAST)
        informer = Informer(client, WIDGETS, rng=random.Random(1), **options)
        recorder = Recorder()
        for handler in (*extra_handlers, recorder.handler()):
            informer.add_handler(handler)
        tasks.append(asyncio.create_task(informer.run()))
        return informer, recorder

    start.api = api  # type: ignore[attr-defined]
    start.tasks = tasks  # type: ignore[attr-defined]
    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await client.close()
    await server.close()


async def test_paged_list_then_watch_from_the_lists_resource_version(harness: Any) -> None:
    api: ScriptedApi = harness.api
    api.lists.extend(
        [
            lambda: page([widget("a", "5"), widget("b", "9")], "20", cont="next"),
            lambda: page([widget("c", "7")], "20"),
        ]
    )
    informer, seen = await harness()
    await asyncio.wait_for(informer.wait_synced(), 5)
    assert informer.has_synced()
    assert seen.calls == [("add", "a@5"), ("add", "b@9"), ("add", "c@7")]
    assert api.list_queries == [{"limit": "2"}, {"limit": "2", "continue": "next"}]
    await eventually(lambda: len(api.watch_queries) == 1)
    assert api.watch_queries[0] == {
        "watch": "true",
        "resourceVersion": "20",  # the list's RV, not the newest item's (9)
        "timeoutSeconds": "300",
        "allowWatchBookmarks": "true",
    }
    cached = informer.store.get("ns/a")
    assert cached is not None
    assert cached["kind"] == "Widget"
    assert cached["apiVersion"] == "example.dev/v1"


async def test_watch_events_are_applied_and_delivered_in_order(harness: Any) -> None:
    api: ScriptedApi = harness.api
    api.lists.append(lambda: page([widget("a", "5")], "10"))
    api.watches.append(
        stream(
            ("ADDED", widget("b", "11")),
            ("MODIFIED", widget("a", "12", size=2)),
            ("BOOKMARK", {"kind": "Widget", "metadata": {"resourceVersion": "13"}}),
            ("DELETED", widget("b", "14")),
            ("DELETED", widget("never-seen", "15")),
            ("BOOKMARK", {"kind": "Widget", "metadata": {"resourceVersion": "16"}}),
            then="close",
        )
    )
    informer, seen = await harness()
    await eventually(lambda: len(api.watch_queries) == 2)
    assert seen.calls == [
        ("add", "a@5"),
        ("add", "b@11"),
        ("update", "a@5", "a@12"),
        ("delete", "b@14"),
    ]
    assert informer.store.list_keys() == ["ns/a"]
    assert informer.store.get("ns/a")["spec"] == {"size": 2}  # type: ignore[index]
    assert api.watch_queries[1]["resourceVersion"] == "16"  # resumed from the bookmark
    assert len(api.list_queries) == 1  # a clean close re-watches without relisting


async def test_410_relists_with_updates_adds_and_tombstones(harness: Any) -> None:
    api: ScriptedApi = harness.api
    relists = metrics.informer_relists.labels(str(WIDGETS))
    before = relists._value.get()
    api.lists.extend(
        [
            lambda: page([widget("a", "5"), widget("b", "6")], "10"),
            lambda: page([widget("a", "5"), widget("c", "30")], "31"),
        ]
    )
    api.watches.extend([expired()])
    informer, seen = await harness()
    await eventually(lambda: len(api.watch_queries) == 2)
    assert seen.calls == [
        ("add", "a@5"),
        ("add", "b@6"),
        ("update", "a@5", "a@5"),  # unchanged objects still get an update on relist
        ("add", "c@30"),
        ("delete", "tombstone:ns/b"),
    ]
    assert sorted(informer.store.list_keys()) == ["ns/a", "ns/c"]
    assert api.watch_queries[1]["resourceVersion"] == "31"
    assert relists._value.get() == before + 1


async def test_tombstones_carry_the_last_known_state(harness: Any) -> None:
    api: ScriptedApi = harness.api
    api.lists.extend([lambda: page([widget("a", "5", size=1)], "10"), lambda: page([], "20")])
    api.watches.append(expired())
    tombstones: list[Any] = []
    await harness(HandlerFuncs(delete=tombstones.append))
    await eventually(lambda: len(tombstones) == 1)
    assert tombstones[0].key == "ns/a"
    assert tombstones[0].obj.decode()["spec"] == {"size": 1}


async def test_same_name_new_uid_is_delete_then_add(harness: Any) -> None:
    api: ScriptedApi = harness.api
    api.lists.append(lambda: page([widget("a", "5", uid="first")], "10"))
    api.watches.append(stream(("MODIFIED", widget("a", "11", uid="second"))))
    _, seen = await harness()
    await eventually(lambda: len(seen.calls) == 3)
    assert seen.calls == [("add", "a@5"), ("delete", "a@5"), ("add", "a@11")]


async def test_expired_continue_token_falls_back_to_one_full_list(harness: Any) -> None:
    api: ScriptedApi = harness.api
    api.lists.extend(
        [
            lambda: page([widget("a", "5"), widget("b", "6")], "10", cont="tok"),
            gone,
            lambda: page([widget("a", "5"), widget("c", "8")], "12"),
        ]
    )
    informer, seen = await harness()
    await asyncio.wait_for(informer.wait_synced(), 5)
    assert api.list_queries[2] == {}  # unpaged
    assert sorted(informer.store.list_keys()) == ["ns/a", "ns/c"]
    assert ("delete", "tombstone:ns/b") in seen.calls


async def test_inactivity_timeout_rewatches_from_the_last_rv_without_relisting(
    harness: Any,
) -> None:
    api: ScriptedApi = harness.api
    api.lists.append(lambda: page([], "10"))
    api.watches.append(stream(("ADDED", widget("a", "11")), then="stall"))
    options = ReflectorOptions(inactivity_timeout=0.2, backoff_initial=0.01, backoff_cap=0.05)
    await harness(options=options)
    await eventually(lambda: len(api.watch_queries) == 2)
    assert api.watch_queries[1]["resourceVersion"] == "11"
    assert len(api.list_queries) == 1


async def test_a_dropped_connection_resumes_without_relisting(harness: Any) -> None:
    api: ScriptedApi = harness.api
    api.lists.append(lambda: page([], "10"))
    api.watches.append(stream(("ADDED", widget("a", "11")), then="drop"))
    informer, _ = await harness()
    await eventually(lambda: len(api.watch_queries) == 2)
    assert api.watch_queries[1]["resourceVersion"] == "11"
    assert len(api.list_queries) == 1
    assert informer.store.list_keys() == ["ns/a"]


async def test_429_on_watch_retries_the_same_rv_after_backoff(harness: Any) -> None:
    api: ScriptedApi = harness.api

    def throttled() -> web.Response:
        body = {"kind": "Status", "code": 429, "reason": "TooManyRequests", "message": "slow"}
        return web.Response(status=429, body=orjson.dumps(body), headers={"Retry-After": "1"})

    api.lists.append(lambda: page([], "10"))
    api.watches.extend([throttled, throttled])
    await harness()
    await eventually(lambda: len(api.watch_queries) == 3)
    assert {q["resourceVersion"] for q in api.watch_queries} == {"10"}
    assert len(api.list_queries) == 1


async def test_a_very_short_empty_watch_relists(harness: Any) -> None:
    api: ScriptedApi = harness.api
    api.lists.extend([lambda: page([], "10"), lambda: page([], "20")])
    api.watches.append(stream(then="close"))
    await harness()
    await eventually(lambda: len(api.watch_queries) == 2)
    assert len(api.list_queries) == 2
    assert api.watch_queries[1]["resourceVersion"] == "20"


async def test_unknown_event_types_and_garbage_relist(harness: Any) -> None:
    api: ScriptedApi = harness.api
    api.lists.extend([lambda: page([], "10"), lambda: page([widget("z", "40")], "41")])
    api.watches.append(stream(("SURPRISE", widget("a", "11"))))
    informer, _ = await harness()
    await eventually(lambda: len(api.watch_queries) == 2)
    assert informer.store.list_keys() == ["ns/z"]


async def test_managed_fields_never_reach_the_cache_or_handlers(harness: Any) -> None:
    api: ScriptedApi = harness.api
    fat = widget("a", "11")
    fat["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]
    api.lists.append(lambda: page([], "10"))
    api.watches.append(stream(("ADDED", fat)))
    added: list[CachedObject] = []
    informer, _ = await harness(HandlerFuncs(add=added.append))
    await eventually(lambda: len(added) == 1)
    assert "managedFields" not in added[0].decode()["metadata"]
    assert "managedFields" not in informer.store.get("ns/a")["metadata"]  # type: ignore[index]


async def test_a_failing_handler_does_not_stop_delivery(harness: Any) -> None:
    api: ScriptedApi = harness.api
    api.lists.append(lambda: page([widget("a", "5"), widget("b", "6")], "10"))

    def explode(obj: CachedObject) -> None:
        raise RuntimeError("handler bug")

    _, seen = await harness(HandlerFuncs(add=explode))
    await eventually(lambda: len(seen.calls) == 2)
    assert seen.calls == [("add", "a@5"), ("add", "b@6")]


async def test_list_errors_are_retried_with_backoff(harness: Any) -> None:
    api: ScriptedApi = harness.api

    def broken() -> web.Response:
        body = {"kind": "Status", "code": 403, "reason": "Forbidden", "message": "rbac"}
        return web.Response(status=403, body=orjson.dumps(body))

    api.lists.extend([broken, broken, lambda: page([widget("a", "5")], "10")])
    informer, _ = await harness()
    await asyncio.wait_for(informer.wait_synced(), 5)
    assert len(api.list_queries) == 3


async def test_handlers_cannot_be_added_once_running(harness: Any) -> None:
    informer, _ = await harness()
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        informer.add_handler(HandlerFuncs())


async def test_cancelling_run_stops_every_task(harness: Any) -> None:
    api: ScriptedApi = harness.api
    api.lists.append(lambda: page([widget("a", "5")], "10"))
    informer, _ = await harness()
    await asyncio.wait_for(informer.wait_synced(), 5)
    before = {t for t in asyncio.all_tasks() if t.get_name().startswith("informer-")}
    assert len(before) == 2
    run_task = harness.tasks[-1]
    run_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run_task
    assert all(t.done() for t in before)


async def test_the_default_transform_watches_lean_and_keeps_indexes_right(harness: Any) -> None:
    api: ScriptedApi = harness.api
    fat = widget("a", "11", size=1)
    fat["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]
    bigger = widget("a", "12", size=2)
    bigger["metadata"]["managedFields"] = fat["metadata"]["managedFields"]
    api.lists.append(lambda: page([], "10"))
    api.watches.append(stream(("ADDED", fat), ("MODIFIED", bigger)))

    def by_size(obj: dict[str, Any]) -> list[str]:
        return [str(obj["spec"]["size"])]

    updates: list[tuple[CachedObject, CachedObject]] = []
    informer, _ = await harness(
        HandlerFuncs(update=lambda old, new: updates.append((old, new))),
        indexers={"size": by_size},
    )
    assert informer._reflector.lean
    await eventually(lambda: len(updates) == 1)
    old, new = updates[0]
    assert (old.resource_version, new.resource_version) == ("11", "12")
    assert new.decode() == {**bigger, "metadata": {**widget("a", "12")["metadata"]}}
    assert informer.store.index_keys("size", "1") == set()
    assert informer.store.index_keys("size", "2") == {"ns/a"}


async def test_a_custom_transform_sees_every_object_whole_before_it_is_stored(
    harness: Any,
) -> None:
    api: ScriptedApi = harness.api
    secret = widget("s", "11")
    secret["data"] = {"password": "aHVudGVyMg=="}

    def strip(obj: dict[str, Any]) -> dict[str, Any]:
        return {"metadata": obj["metadata"]}

    api.lists.append(lambda: page([widget("t", "5", size=1)], "10"))
    api.watches.append(stream(("ADDED", secret)))
    added: list[CachedObject] = []
    informer, _ = await harness(HandlerFuncs(add=added.append), transform=strip)
    assert not informer._reflector.lean
    await eventually(lambda: len(added) == 2)
    assert [sorted(o.decode()) for o in added] == [["metadata"], ["metadata"]]
    assert b"aHVudGVyMg" not in informer.store.get_cached("ns/s").raw  # type: ignore[union-attr]
