"""KubeClient.watch against scripted streams: chunk splitting, ERROR events, stalls, drops."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from controller.kube import client as client_module
from controller.kube.client import KubeClient, WatchProtocolError
from controller.kube.errors import Forbidden, Gone, TooManyRequests
from controller.kube.kubeconfig import ClusterConfig
from controller.kube.resource import Resource

WIDGETS = Resource("example.dev", "v1", "widgets", "Widget", namespaced=True)
Stream = Callable[[web.Request, web.StreamResponse], Awaitable[None]]


def event(kind: str, name: str, rv: str, **extra: Any) -> dict[str, Any]:
    obj = {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}, **extra}
    return {"type": kind, "object": obj}


def line(ev: dict[str, Any]) -> bytes:
    return orjson.dumps(ev) + b"\n"


@pytest.fixture
async def watch_server() -> AsyncIterator[
    Callable[[Stream], Awaitable[tuple[KubeClient, list[Any]]]]
]:
    servers: list[TestServer] = []
    clients: list[KubeClient] = []

    async def start(stream: Stream) -> tuple[KubeClient, list[Any]]:
        queries: list[Any] = []

        async def handler(request: web.Request) -> web.StreamResponse:
            queries.append(dict(request.query))
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            await stream(request, response)
            return response

        app = web.Application()
        app.router.add_get("/{tail:.*}", handler)
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
        client = KubeClient.from_config(ClusterConfig(str(server.make_url(""))), timeout=5.0)
        clients.append(client)
        return client, queries

    yield start
    for client in clients:
        await client.close()
    for server in servers:
        await server.close()


@pytest.fixture(params=[False, True], ids=["full", "lean"])
def lean(request: pytest.FixtureRequest) -> bool:
    """Every stream test runs with full and with lean decoding."""
    return bool(request.param)


async def collect(
    client: KubeClient, inactivity: float = 5.0, *, lean: bool = False
) -> list[dict[str, Any]]:
    async with client.watch(
        WIDGETS,
        "ns",
        resource_version="7",
        timeout_seconds=300,
        inactivity_timeout=inactivity,
        lean=lean,
    ) as stream:
        return [ev.as_dict() async for ev in stream]


async def test_events_split_across_arbitrary_chunks_and_huge_lines(
    watch_server: Any, lean: bool
) -> None:
    big = "x" * (3 << 20)  # far beyond aiohttp's readline limit
    events = [
        event("ADDED", "a", "8"),
        event("MODIFIED", "b", "9", spec={"blob": big}),
        event("BOOKMARK", "", "10"),
        event("DELETED", "a", "11"),
    ]
    payload = b"".join(line(ev) for ev in events) + b"\n"  # blank keep-alive line too

    async def stream(request: web.Request, response: web.StreamResponse) -> None:
        sizes = itertools.cycle((1, 7, 100, 65536, 1 << 20))
        start = 0
        while start < len(payload):
            end = start + next(sizes)
            await response.write(payload[start:end])
            start = end

    client, queries = await watch_server(stream)
    if lean:  # a lean BOOKMARK keeps only its resourceVersion
        events[2] = {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "10"}}}
    assert await collect(client, lean=lean) == events
    assert queries == [
        {
            "watch": "true",
            "resourceVersion": "7",
            "timeoutSeconds": "300",
            "allowWatchBookmarks": "true",
        }
    ]


async def test_a_last_line_without_newline_is_still_delivered(
    watch_server: Any, lean: bool
) -> None:
    async def stream(request: web.Request, response: web.StreamResponse) -> None:
        await response.write(
            line(event("ADDED", "a", "8")) + orjson.dumps(event("ADDED", "b", "9"))
        )

    client, _ = await watch_server(stream)
    names = [ev["object"]["metadata"]["name"] for ev in await collect(client, lean=lean)]
    assert names == ["a", "b"]


async def test_error_event_410_raises_gone(watch_server: Any, lean: bool) -> None:
    expired = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}

    async def stream(request: web.Request, response: web.StreamResponse) -> None:
        await response.write(line(event("ADDED", "a", "8")))
        await response.write(line({"type": "ERROR", "object": expired}))

    client, _ = await watch_server(stream)
    seen: list[str] = []

    async def drain() -> None:
        async with client.watch(
            WIDGETS, "ns", resource_version="7", timeout_seconds=300, lean=lean
        ) as events:
            async for ev in events:
                seen.append(ev.type)

    with pytest.raises(Gone):
        await drain()
    assert seen == ["ADDED"]


async def test_a_silent_stream_hits_the_inactivity_timeout(watch_server: Any) -> None:
    async def stream(request: web.Request, response: web.StreamResponse) -> None:
        await response.write(line(event("ADDED", "a", "8")))
        await asyncio.sleep(30)

    client, _ = await watch_server(stream)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        await collect(client, inactivity=0.3)
    assert loop.time() - started < 3.0


async def test_a_dropped_connection_raises_a_client_error(watch_server: Any) -> None:
    async def stream(request: web.Request, response: web.StreamResponse) -> None:
        await response.write(line(event("ADDED", "a", "8")) + b'{"type": "MOD')
        assert request.transport is not None
        request.transport.close()

    client, _ = await watch_server(stream)
    with pytest.raises(aiohttp.ClientError):
        await collect(client)


@pytest.mark.parametrize(
    "garbage",
    [
        b"not json\n",
        b'["a list"]\n',
        b'{"type": "ADDED", "object": "text"}\n',
        b'{"type":"ADDED","object":"text"}\n',
        b'{"type":"ADDED","object":{"metadata":{"name":"a"}}} trailing\n',
        b'{"type":"ADDED","object":{"metadata":{"name":"a"}}\n',
    ],
)
async def test_garbage_is_a_protocol_error(watch_server: Any, garbage: bytes, lean: bool) -> None:
    async def stream(request: web.Request, response: web.StreamResponse) -> None:
        await response.write(garbage)

    client, _ = await watch_server(stream)
    with pytest.raises(WatchProtocolError):
        await collect(client, lean=lean)


async def test_an_oversized_line_is_refused(
    watch_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "MAX_WATCH_LINE", 1000)

    async def stream(request: web.Request, response: web.StreamResponse) -> None:
        for _ in range(10):
            await response.write(b"y" * 500)

    client, _ = await watch_server(stream)
    with pytest.raises(WatchProtocolError, match="larger than 1000"):
        await collect(client)


@pytest.mark.parametrize(
    ("code", "reason", "error"),
    [(403, "Forbidden", Forbidden), (429, "TooManyRequests", TooManyRequests)],
)
async def test_refused_watches_raise_without_retrying(
    code: int, reason: str, error: type[Exception]
) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        body = {"kind": "Status", "code": code, "reason": reason, "message": "no"}
        return web.Response(status=code, body=orjson.dumps(body), headers={"Retry-After": "1"})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    async with TestServer(app) as server:
        config = ClusterConfig(str(server.make_url("")))
        async with KubeClient.from_config(config) as client:
            with pytest.raises(error):
                await collect(client)
    assert calls == 1


async def test_lines_come_in_batches_of_at_most_the_limit(watch_server: Any, lean: bool) -> None:
    events = [event("ADDED", name, str(rv)) for rv, name in enumerate("abcde", 8)]
    payload = b"\n".join(line(ev) for ev in events)  # blank lines between events

    async def stream(request: web.Request, response: web.StreamResponse) -> None:
        await response.write(payload)

    client, _ = await watch_server(stream)
    async with client.watch(
        WIDGETS, "ns", resource_version="7", timeout_seconds=300, lean=lean
    ) as watch:
        batches = []
        while lines := await watch.next_lines(2):
            batches.append([watch.decode(raw).as_dict() for raw in lines])
    assert [len(batch) for batch in batches] == [2, 2, 1]
    assert [ev for batch in batches for ev in batch] == events
