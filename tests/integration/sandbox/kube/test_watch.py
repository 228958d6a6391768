"""Watch semantics: start points, bookmarks, timeouts, 410s, selector transitions, slow
watchers, dropped watches."""

from __future__ import annotations

import asyncio
import time

from kubernetes_asyncio import client, watch

from controller.sandbox.kube import KubeAPIServer

from .conftest import Raw, started

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def cm(name: str, **labels: str) -> dict[str, object]:
    return {"metadata": {"name": name, "labels": labels}, "data": {}}


async def test_watch_without_rv_starts_with_synthetic_adds(raw: Raw) -> None:
    await raw.call("POST", CONFIGMAPS, cm("old"))
    watching = asyncio.create_task(raw.watch(CONFIGMAPS, {"timeoutSeconds": "1"}))
    await asyncio.sleep(0.2)
    await raw.call("POST", CONFIGMAPS, cm("new"))
    events = await watching
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "old"),
        ("ADDED", "new"),
    ]


async def test_watch_from_rv_sends_only_later_events_and_ends_cleanly(raw: Raw) -> None:
    _, first = await raw.call("POST", CONFIGMAPS, cm("a"))
    await raw.call(
        "PATCH",
        f"{CONFIGMAPS}/a",
        {"data": {"x": "1"}},
        content_type="application/merge-patch+json",
    )
    await raw.call("DELETE", f"{CONFIGMAPS}/a")
    begin = time.monotonic()
    events = await raw.watch(
        CONFIGMAPS, {"resourceVersion": first["metadata"]["resourceVersion"], "timeoutSeconds": "1"}
    )
    assert 0.9 < time.monotonic() - begin < 3
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs)
    assert rvs[0] > int(first["metadata"]["resourceVersion"])
    assert events[1]["object"]["data"] == {"x": "1"}, "DELETED carries the last state"


async def test_bookmarks_periodic_and_before_timeout(raw: Raw) -> None:
    _, listed = await raw.call("GET", CONFIGMAPS)
    events = await raw.watch(
        CONFIGMAPS,
        {
            "resourceVersion": listed["metadata"]["resourceVersion"],
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "3",
        },
    )
    assert events
    assert all(e["type"] == "BOOKMARK" for e in events)
    # interval 0.3 s over ~1 s, then one 2 s before the 3 s deadline
    assert len(events) >= 3
    assert set(events[0]["object"]) == {"kind", "apiVersion", "metadata"}
    assert events[0]["object"]["kind"] == "ConfigMap"
    assert list(events[0]["object"]["metadata"]) == ["resourceVersion"]


async def test_no_bookmarks_unless_asked(raw: Raw) -> None:
    _, listed = await raw.call("GET", CONFIGMAPS)
    events = await raw.watch(
        CONFIGMAPS,
        {"resourceVersion": listed["metadata"]["resourceVersion"], "timeoutSeconds": "1"},
    )
    assert events == []


async def test_history_overflow_gives_http_200_and_410_error_event() -> None:
    async with started(tls=False, history=5) as (_, raw):
        _, first = await raw.call("POST", CONFIGMAPS, cm("a"))
        for i in range(6):
            await raw.call(
                "PATCH",
                f"{CONFIGMAPS}/a",
                {"data": {"i": str(i)}},
                content_type="application/merge-patch+json",
            )
        events = await raw.watch(
            CONFIGMAPS,
            {"resourceVersion": first["metadata"]["resourceVersion"], "timeoutSeconds": "5"},
        )
        assert len(events) == 1
        assert events[0]["type"] == "ERROR"
        status = events[0]["object"]
        assert status["kind"] == "Status"
        assert status["code"] == 410
        assert status["reason"] == "Expired"
        assert status["message"].startswith("too old resource version")


async def test_compaction_forces_410(api: KubeAPIServer, raw: Raw) -> None:
    _, first = await raw.call("POST", CONFIGMAPS, cm("a"))
    await raw.call("POST", CONFIGMAPS, cm("b"))
    api.faults.compact()
    events = await raw.watch(
        CONFIGMAPS, {"resourceVersion": first["metadata"]["resourceVersion"], "timeoutSeconds": "5"}
    )
    assert [e["object"]["code"] for e in events] == [410]


async def test_too_large_resource_version(raw: Raw) -> None:
    events = await raw.watch(CONFIGMAPS, {"resourceVersion": "999999", "timeoutSeconds": "5"})
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 504


async def test_selector_transitions(raw: Raw) -> None:
    _, listed = await raw.call("GET", CONFIGMAPS)
    watching = asyncio.create_task(
        raw.watch(
            CONFIGMAPS,
            {
                "resourceVersion": listed["metadata"]["resourceVersion"],
                "labelSelector": "app=web",
                "timeoutSeconds": "1",
            },
        )
    )
    await asyncio.sleep(0.1)
    await raw.call("POST", CONFIGMAPS, cm("x", app="web"))
    await raw.call("POST", CONFIGMAPS, cm("other", app="db"))
    for app in ("db", "web"):
        await raw.call(
            "PATCH",
            f"{CONFIGMAPS}/x",
            {"metadata": {"labels": {"app": app}}},
            content_type="application/merge-patch+json",
        )
    events = await watching
    assert [(e["type"], e["object"]["metadata"]["labels"]["app"]) for e in events] == [
        ("ADDED", "web"),
        ("DELETED", "web"),
        ("ADDED", "web"),
    ]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(set(rvs)), "the leaving DELETED carries the new RV"


async def test_send_initial_events_ends_with_annotated_bookmark(raw: Raw) -> None:
    await raw.call("POST", CONFIGMAPS, cm("a"))
    events = await raw.watch(
        CONFIGMAPS,
        {
            "sendInitialEvents": "true",
            "allowWatchBookmarks": "true",
            "resourceVersionMatch": "NotOlderThan",
            "timeoutSeconds": "1",
        },
    )
    assert events[0]["type"] == "ADDED"
    assert events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_slow_watcher_is_closed() -> None:
    async with started(tls=False, watch_capacity=5) as (api, raw):
        _, listed = await raw.call("GET", CONFIGMAPS)
        watching = asyncio.create_task(
            raw.watch(
                CONFIGMAPS,
                {
                    "resourceVersion": listed["metadata"]["resourceVersion"],
                    "timeoutSeconds": "30",
                },
            )
        )
        await asyncio.sleep(0.1)
        api.faults.pause()  # the watch loop stops draining its queue
        for i in range(10):
            api.create_object(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"c{i}", "namespace": "default"},
                }
            )
        api.faults.resume()
        begin = time.monotonic()
        events = await asyncio.wait_for(watching, 5)
        assert time.monotonic() - begin < 5
        assert len(events) < 10


async def test_drop_watches_ends_streams(api: KubeAPIServer, raw: Raw) -> None:
    watching = asyncio.create_task(raw.watch(CONFIGMAPS, {"timeoutSeconds": "30"}))
    async with asyncio.timeout(5):  # until the server holds the watch (slow on a busy machine)
        while (dropped := api.faults.drop_watches()) == 0:
            await asyncio.sleep(0.02)
    assert dropped == 1
    assert await asyncio.wait_for(watching, 2) == []


async def test_kubernetes_asyncio_watch_with_bookmarks(
    api: KubeAPIServer, kube: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube)
    listed = await core.list_namespaced_config_map("default")
    rv = listed.metadata.resource_version

    async def produce() -> None:
        await asyncio.sleep(0.2)
        await core.create_namespaced_config_map(
            "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w"))
        )

    producer = asyncio.create_task(produce())
    seen = []
    async with watch.Watch() as w:
        async for event in w.stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=rv,
            allow_watch_bookmarks=True,
            timeout_seconds=1,
        ):
            seen.append(event["type"])
    await producer
    assert "ADDED" in seen
    assert "BOOKMARK" in seen
