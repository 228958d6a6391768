"""The provider built from OTEL_* variables really exports spans by OTLP/HTTP to a collector."""

from __future__ import annotations

import asyncio
import gzip

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from controller.observability.redact import register_secret
from controller.observability.tracing import (
    ATTR_REQUEST,
    build_tracer_provider,
    new_issuance_context,
    start_reconcile_span,
)

SECRET = "otlp-secret-7f6e5d4c3b2a"


async def test_spans_reach_an_otlp_http_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[ExportTraceServiceRequest] = []

    async def collect(request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        received.append(ExportTraceServiceRequest.FromString(body))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/v1/traces", collect)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{host}:{port}"}
        for variable, value in {**endpoint, "OTEL_EXPORTER_OTLP_TIMEOUT": "5"}.items():
            monkeypatch.setenv(variable, value)  # the exporter reads the process environment
        provider = build_tracer_provider("zerossl-issuer-test", environ=endpoint)
        assert provider is not None
        tracer = provider.get_tracer("test")
        register_secret(SECRET)
        stored = new_issuance_context({ATTR_REQUEST: "default/web"}, tracer=tracer)
        with start_reconcile_span("reconcile", stored, {"note": SECRET}, tracer=tracer):
            pass
        # The batch processor exports on its own thread; the collector answers on this loop.
        flushed = await asyncio.to_thread(provider.force_flush, 10_000)
        await asyncio.to_thread(provider.shutdown)
    finally:
        await runner.cleanup()

    assert flushed
    spans = [
        span
        for request in received
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]
    assert sorted(span.name for span in spans) == ["issuance", "reconcile"]
    assert len({span.trace_id for span in spans}) == 1
    service_names = {
        attribute.value.string_value
        for request in received
        for resource_spans in request.resource_spans
        for attribute in resource_spans.resource.attributes
        if attribute.key == "service.name"
    }
    assert service_names == {"zerossl-issuer-test"}
    assert SECRET.encode() not in b"".join(r.SerializeToString() for r in received)
