"""KubeClient against scripted aiohttp servers: verbs, content types, retries, errors, timeouts."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from controller.kube import client as client_module
from controller.kube.client import KubeClient
from controller.kube.errors import (
    AlreadyExists,
    Conflict,
    Gone,
    Invalid,
    NotFound,
    ServerError,
    TooManyRequests,
)
from controller.kube.kubeconfig import ClusterConfig
from controller.kube.resource import LEASES, NAMESPACES, Resource

WIDGETS = Resource("example.dev", "v1", "widgets", "Widget", namespaced=True)
WIDGET_PATH = "/apis/example.dev/v1/namespaces/ns/widgets"

Handler = Callable[[web.Request], Any]


class Recorder:
    """Remembers every request the scripted server saw."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes, dict[str, str]]] = []

    async def record(self, request: web.Request) -> None:
        body = await request.read()
        self.requests.append(
            (request.method, request.path, dict(request.query), body, dict(request.headers))
        )

    @property
    def count(self) -> int:
        return len(self.requests)


def status(code: int, reason: str, message: str = "m", **extra: Any) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code}
    body.update(reason=reason, message=message, **extra)
    return web.Response(status=code, body=orjson.dumps(body), content_type="application/json")


def ok(obj: dict[str, Any]) -> web.Response:
    return web.Response(body=orjson.dumps(obj), content_type="application/json")


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    servers: list[TestServer] = []
    clients: list[KubeClient] = []

    async def start(handler: Handler, **options: Any) -> tuple[KubeClient, Recorder]:
        recorder = Recorder()

        async def entry(request: web.Request) -> web.StreamResponse:
            await recorder.record(request)
            return await handler(request)  # type: ignore[no-any-return]

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", entry)
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
        options.setdefault("timeout", 5.0)
        client = KubeClient.from_config(ClusterConfig(str(server.make_url(""))), **options)
        clients.append(client)
        return client, recorder

    yield start
    for client in clients:
        await client.close()
    for server in servers:
        await server.close()


async def test_get_returns_the_raw_object(serve: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return ok({"metadata": {"name": "a", "namespace": "ns"}, "spec": {"x": 1}})

    client, seen = await serve(handler)
    assert await client.get(WIDGETS, "a", "ns") == {
        "metadata": {"name": "a", "namespace": "ns"},
        "spec": {"x": 1},
    }
    method, path, _, _, headers = seen.requests[0]
    assert (method, path) == ("GET", f"{WIDGET_PATH}/a")
    assert headers["Accept"] == "application/json"
    assert "Authorization" not in headers


async def test_bearer_token_comes_from_the_credential_source(serve: Any) -> None:
    tokens = iter(["Bearer one", "Bearer two"])

    async def authorization() -> str | None:
        return next(tokens)

    async def handler(request: web.Request) -> web.Response:
        return ok({"metadata": {}})

    client, seen = await serve(handler)
    client.config = ClusterConfig(client.config.host, authorization=authorization)
    await client.get(NAMESPACES, "x")
    await client.get(NAMESPACES, "y")
    assert [r[4]["Authorization"] for r in seen.requests] == ["Bearer one", "Bearer two"]
    assert "Bearer" not in repr(client.config)


async def test_list_passes_paging_and_selectors(serve: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return ok({"metadata": {"resourceVersion": "9"}, "items": []})

    client, seen = await serve(handler)
    await client.list(
        WIDGETS,
        label_selector="app=web",
        field_selector="metadata.name=a",
        limit=50,
        continue_="tok",
        resource_version="0",
    )
    _, path, query, _, _ = seen.requests[0]
    assert path == "/apis/example.dev/v1/widgets"
    assert query == {
        "labelSelector": "app=web",
        "fieldSelector": "metadata.name=a",
        "limit": "50",
        "continue": "tok",
        "resourceVersion": "0",
    }


@pytest.mark.parametrize(
    ("patch_type", "patch", "content_type"),
    [
        ("merge", {"spec": {"x": None}}, "application/merge-patch+json"),
        ("json", [{"op": "remove", "path": "/spec/x"}], "application/json-patch+json"),
        (
            "apply",
            {"apiVersion": "example.dev/v1", "kind": "Widget"},
            "application/apply-patch+yaml",
        ),
    ],
)
async def test_patch_sends_an_explicit_content_type(
    serve: Any, patch_type: str, patch: Any, content_type: str
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return ok({"metadata": {"name": "a"}})

    client, seen = await serve(handler)
    await client.patch(
        WIDGETS,
        "a",
        patch,
        namespace="ns",
        patch_type=patch_type,
        subresource="status",
        field_manager="zerossl-issuer",
        force=patch_type == "apply",
    )
    method, path, query, body, headers = seen.requests[0]
    assert (method, path) == ("PATCH", f"{WIDGET_PATH}/a/status")
    assert headers["Content-Type"] == content_type
    assert orjson.loads(body) == patch
    assert query["fieldManager"] == "zerossl-issuer"
    assert ("force" in query) == (patch_type == "apply")


@pytest.mark.parametrize(
    ("patch_type", "patch", "field_manager", "error"),
    [
        ("json", {"spec": {}}, None, TypeError),
        ("merge", [{"op": "add"}], None, TypeError),
        ("apply", {"spec": {}}, None, ValueError),
        ("strategic", {"spec": {}}, None, ValueError),
    ],
)
async def test_bad_patches_are_refused_before_sending(
    serve: Any, patch_type: str, patch: Any, field_manager: str | None, error: type[Exception]
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return ok({})

    client, seen = await serve(handler)
    with pytest.raises(error):
        await client.patch(
            WIDGETS, "a", patch, namespace="ns", patch_type=patch_type, field_manager=field_manager
        )
    assert seen.count == 0


async def test_scope_mistakes_are_refused(serve: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return ok({})

    client, seen = await serve(handler)
    with pytest.raises(ValueError, match="namespaced"):
        await client.get(WIDGETS, "a")
    with pytest.raises(ValueError, match="cluster-scoped"):
        await client.get(NAMESPACES, "a", "ns")
    with pytest.raises(ValueError, match="name"):
        await client.replace(WIDGETS, {"metadata": {"namespace": "ns"}})
    assert seen.count == 0


async def test_create_and_replace_take_name_and_namespace_from_the_body(serve: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return ok(orjson.loads(await request.read()))

    client, seen = await serve(handler)
    body = {"metadata": {"name": "l", "namespace": "ns", "resourceVersion": "3"}, "spec": {}}
    assert await client.create(LEASES, body) == body
    assert await client.replace(LEASES, body) == body
    assert [(r[0], r[1]) for r in seen.requests] == [
        ("POST", "/apis/coordination.k8s.io/v1/namespaces/ns/leases"),
        ("PUT", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l"),
    ]


async def test_delete_sends_preconditions_and_may_return_nothing(serve: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=200)

    client, seen = await serve(handler)
    assert await client.delete(WIDGETS, "a", "ns", preconditions={"uid": "u1"}) is None
    method, _, _, body, headers = seen.requests[0]
    assert method == "DELETE"
    assert orjson.loads(body)["preconditions"] == {"uid": "u1"}
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (lambda: status(404, "NotFound"), NotFound),
        (lambda: status(409, "AlreadyExists"), AlreadyExists),
        (lambda: status(409, "Conflict"), Conflict),
        (lambda: status(410, "Expired"), Gone),
        (lambda: status(422, "Invalid", details={"causes": [{"field": "spec"}]}), Invalid),
    ],
)
async def test_errors_map_to_api_error_classes(
    serve: Any, response: Callable[[], web.Response], error: type[Exception]
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return response()

    client, seen = await serve(handler)
    with pytest.raises(error) as caught:
        await client.get(WIDGETS, "a", "ns")
    assert caught.value.status == response().status  # type: ignore[attr-defined]
    assert seen.count == 1


async def test_non_json_error_body_still_gives_a_clear_error(serve: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=403, text="forbidden by proxy")

    client, _ = await serve(handler)
    with pytest.raises(client_module.ApiError, match="forbidden by proxy"):
        await client.get(WIDGETS, "a", "ns")


def scripted(*responses: Callable[[], web.Response]) -> Handler:
    """Answers with the scripted responses in turn, then 200 {} forever."""
    queue = list(responses)

    async def handler(request: web.Request) -> web.Response:
        return queue.pop(0)() if queue else ok({"metadata": {"name": "done"}})

    return handler


def throttled(after: str = "0.05") -> web.Response:
    response = status(429, "TooManyRequests")
    response.headers["Retry-After"] = after
    return response


async def test_429_is_retried_for_every_verb_after_retry_after(serve: Any) -> None:
    client, seen = await serve(scripted(throttled, throttled))
    started = time.monotonic()
    created = await client.create(WIDGETS, {"metadata": {"name": "a", "namespace": "ns"}})
    assert created["metadata"]["name"] == "done"
    assert seen.count == 3
    assert time.monotonic() - started >= 0.1  # two Retry-After floors of 50 ms


async def test_5xx_with_retry_after_is_retried_even_for_creates(serve: Any) -> None:
    def unavailable() -> web.Response:
        response = status(503, "ServiceUnavailable")
        response.headers["Retry-After"] = "0"
        return response

    client, seen = await serve(scripted(unavailable))
    await client.create(WIDGETS, {"metadata": {"name": "a", "namespace": "ns"}})
    assert seen.count == 2


async def test_5xx_without_retry_after_is_not_retried_for_creates(serve: Any) -> None:
    client, seen = await serve(scripted(lambda: status(500, "InternalError")))
    with pytest.raises(ServerError):
        await client.create(WIDGETS, {"metadata": {"name": "a", "namespace": "ns"}})
    assert seen.count == 1


async def test_5xx_without_retry_after_is_not_retried_for_json_patches(serve: Any) -> None:
    client, seen = await serve(scripted(lambda: status(500, "InternalError")))
    with pytest.raises(ServerError):
        await client.patch(WIDGETS, "a", [{"op": "add"}], namespace="ns", patch_type="json")
    assert seen.count == 1


async def test_5xx_without_retry_after_is_retried_for_idempotent_verbs(serve: Any) -> None:
    client, seen = await serve(scripted(*[lambda: status(500, "InternalError")] * 3))
    await client.patch(WIDGETS, "a", {"spec": {}}, namespace="ns")
    assert seen.count == 4


async def test_retries_stop_after_ten_attempts(serve: Any) -> None:
    client, seen = await serve(scripted(*[throttled] * 20), timeout=30.0)
    with pytest.raises(TooManyRequests):
        await client.get(WIDGETS, "a", "ns")
    assert seen.count == client_module.MAX_ATTEMPTS


async def test_a_retry_after_beyond_the_deadline_fails_at_once(serve: Any) -> None:
    client, seen = await serve(scripted(lambda: throttled("60")), timeout=2.0)
    started = time.monotonic()
    with pytest.raises(TooManyRequests):
        await client.get(WIDGETS, "a", "ns")
    assert time.monotonic() - started < 1.0
    assert seen.count == 1


async def test_every_call_is_bounded_by_the_timeout(serve: Any) -> None:
    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return ok({})

    client, _ = await serve(hang, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await client.get(WIDGETS, "a", "ns")
    assert time.monotonic() - started < 2.0


def free_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_refused_connections_are_retried_then_raised() -> None:
    config = ClusterConfig(f"http://127.0.0.1:{free_port()}")
    async with KubeClient.from_config(config, timeout=1.0) as client:
        with pytest.raises(aiohttp.ClientConnectorError):
            await client.create(WIDGETS, {"metadata": {"name": "a", "namespace": "ns"}})


async def test_client_side_qps_spaces_requests(serve: Any) -> None:
    client, seen = await serve(scripted(), qps=20.0, burst=1)
    started = time.monotonic()
    for _ in range(5):
        await client.get(WIDGETS, "a", "ns")
    assert time.monotonic() - started >= 0.15  # 4 waits of 50 ms after the burst of one
    assert seen.count == 5


async def test_writes_are_traced_without_bodies(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(client_module, "_tracer", provider.get_tracer("test"))
    client, _ = await serve(scripted(lambda: status(409, "Conflict")))
    with pytest.raises(Conflict):
        await client.replace(
            WIDGETS, {"metadata": {"name": "a", "namespace": "ns"}, "spec": {"secret": "s3cr3t"}}
        )
    await client.get(WIDGETS, "a", "ns")
    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == ["kube.update"]
    assert dict(spans[0].attributes or {}) == {
        "k8s.resource": "widgets.example.dev",
        "k8s.namespace": "ns",
        "k8s.name": "a",
    }
    assert "s3cr3t" not in str(spans[0].to_json())
