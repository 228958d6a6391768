"""An OTLP/HTTP trace collector on loopback: the controller's real processes export their spans
to it (point them at it with :meth:`OTLPCollector.environment`), tests read what arrived.

Invariants: every export request is answered 200 and kept twice, as the raw (decompressed)
protobuf bytes (for "this secret appears nowhere" checks) and as flat :class:`ReceivedSpan`
rows in arrival order; the collector never parses anything the exporter did not send.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Self

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from controller.sandbox.stack.waiting import poll

LOOPBACK = "127.0.0.1"
EXPORT_DELAY_MS = 100
"""The batch span processor's schedule delay the replicas get: spans arrive within ~0.1 s."""


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    """One exported span; ids in lowercase hex, ``parent_id`` None for a root."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service: str
    attributes: Mapping[str, str]
    error: bool


def _text(value: AnyValue) -> str:
    kind = value.WhichOneof("value")
    return "" if kind is None else str(getattr(value, kind))


def _attributes(pairs: list[KeyValue]) -> dict[str, str]:
    return {pair.key: _text(pair.value) for pair in pairs}


def flatten(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    spans = []
    for resource_spans in request.resource_spans:
        service = _attributes(list(resource_spans.resource.attributes)).get("service.name", "")
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        service=service,
                        attributes=_attributes(list(span.attributes)),
                        error=span.status.code == span.status.STATUS_CODE_ERROR,
                    )
                )
    return spans


class OTLPCollector:
    """``async with OTLPCollector() as collector:``; ``POST /v1/traces`` on a loopback port."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.payloads: list[bytes] = []
        self._runner: web.AppRunner | None = None
        self._endpoint: str | None = None

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/v1/traces", self._collect)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, LOOPBACK, 0)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        host, port = runner.addresses[0][:2]
        self._runner, self._endpoint = runner, f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None

    @property
    def endpoint(self) -> str:
        if self._endpoint is None:
            raise RuntimeError("the collector is not running")
        return self._endpoint

    def environment(self, service: str = "zerossl-issuer") -> dict[str, str]:
        """The ``OTEL_*`` variables that make a replica export every span here promptly."""
        return {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "5",
            "OTEL_BSP_SCHEDULE_DELAY": str(EXPORT_DELAY_MS),
            "OTEL_SERVICE_NAME": service,
        }

    @property
    def raw(self) -> bytes:
        """Every payload received, decompressed, concatenated."""
        return b"".join(self.payloads)

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [span for span in self.spans if span.trace_id == trace_id]

    async def wait_for(
        self, predicate: Callable[[list[ReceivedSpan]], bool], what: str, timeout: float = 15.0
    ) -> None:
        """Until ``predicate(spans received so far)`` holds; TimeoutError naming ``what``."""

        async def probe() -> bool | None:
            return True if predicate(self.spans) else None

        await poll(
            probe,
            timeout=timeout,
            describe=lambda: f"{what}; received: {sorted({s.name for s in self.spans})}",
        )

    async def _collect(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.payloads.append(body)
        self.spans.extend(flatten(ExportTraceServiceRequest.FromString(body)))
        return web.Response(status=200)
