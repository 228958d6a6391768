"""Tracing: exporter selection from OTEL_*, issuance continuation across restarts, redaction."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from controller.config import ConfigError
from controller.observability.redact import register_secret
from controller.observability.tracing import (
    ATTR_ISSUER,
    ATTR_ORDER,
    ATTR_REQUEST,
    ISSUANCE_SPAN,
    build_tracer_provider,
    current_traceparent,
    exporters_from_env,
    install_in_memory_exporter,
    new_issuance_context,
    safe_attributes,
    start_reconcile_span,
    start_span,
)

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
SECRET = "tr-9b8a7c6d5e4f3a2b1c0d"
ATTRIBUTES = {
    ATTR_REQUEST: "default/web-1",
    ATTR_ORDER: "default/web-1",
    ATTR_ISSUER: "ZeroSSLClusterIssuer//zerossl",
}


class Process:
    """One controller process's tracing lifetime: its own provider, exporting in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("test")

    def exit(self) -> tuple[ReadableSpan, ...]:
        spans = self.exporter.get_finished_spans()
        self.provider.shutdown()
        return spans


@pytest.fixture
def process() -> Iterator[Process]:
    running = Process()
    yield running
    running.provider.shutdown()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ()),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ("otlp",)),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ("otlp",)),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ("otlp",)),
        ({"OTEL_TRACES_EXPORTER": " OTLP , none"}, ("otlp",)),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, ()),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, ()),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "false"}, ("otlp",)),
        (
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            },
            ("otlp",),
        ),
    ],
)
def test_exporters_from_env(environ: dict[str, str], expected: tuple[str, ...]) -> None:
    assert exporters_from_env(environ) == expected


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, "OTEL_TRACES_EXPORTER"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "x"},
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ),
    ],
)
def test_bad_exporter_settings_name_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=f"^{variable}="):
        exporters_from_env(environ)


def test_no_provider_when_tracing_is_off() -> None:
    assert build_tracer_provider("zerossl-issuer", environ={}) is None


def test_provider_resource_lets_otel_variables_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "issuer-from-env")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging")
    provider = build_tracer_provider(
        "zerossl-issuer",
        {"service.version": "0.1.0", "deployment.environment": "prod"},
        environ={"OTEL_TRACES_EXPORTER": "otlp"},
    )
    assert provider is not None
    try:
        attributes = provider.resource.attributes
        assert attributes["service.name"] == "issuer-from-env"
        assert attributes["service.version"] == "0.1.0"
        assert attributes["deployment.environment"] == "staging"
    finally:
        provider.shutdown()


def test_one_trace_spans_an_issuance_across_a_controller_restart() -> None:
    """Two provider lifetimes share nothing but the traceparent string stored on the Order."""
    first = Process()
    stored = new_issuance_context(ATTRIBUTES, tracer=first.tracer)
    with (
        start_reconcile_span("reconcile", stored, ATTRIBUTES, tracer=first.tracer),
        start_span("zerossl.create_certificate", tracer=first.tracer),
    ):
        pass
    before = first.exit()

    second = Process()  # the restarted controller (or the new leader)
    with (
        start_reconcile_span("reconcile", stored, ATTRIBUTES, tracer=second.tracer),
        start_span("zerossl.download_certificate", tracer=second.tracer),
    ):
        pass
    after = second.exit()

    every = (*before, *after)
    assert len({span.context.trace_id for span in every}) == 1
    assert len({span.context.span_id for span in every}) == len(every) == 5
    [root] = [s for s in before if s.name == ISSUANCE_SPAN]
    assert root.parent is None
    assert dict(root.attributes or {}) == ATTRIBUTES
    flags = f"{root.context.trace_flags:02x}"
    assert stored == f"00-{root.context.trace_id:032x}-{root.context.span_id:016x}-{flags}"

    def tree(spans: tuple[ReadableSpan, ...]) -> set[tuple[str, str | None]]:
        by_id = {s.context.span_id: s.name for s in every}
        return {(s.name, by_id[s.parent.span_id] if s.parent else None) for s in spans}

    assert tree(before) == {
        (ISSUANCE_SPAN, None),
        ("reconcile", ISSUANCE_SPAN),
        ("zerossl.create_certificate", "reconcile"),
    }
    assert tree(after) == {
        ("reconcile", ISSUANCE_SPAN),
        ("zerossl.download_certificate", "reconcile"),
    }
    [resumed] = [s for s in after if s.name == "reconcile"]
    assert resumed.parent is not None
    assert resumed.parent.is_remote


def test_traceparent_inside_a_reconcile_names_the_reconcile_span(process: Process) -> None:
    stored = new_issuance_context(tracer=process.tracer)
    with start_reconcile_span("reconcile", stored, tracer=process.tracer) as span:
        inside = current_traceparent()
    assert inside == f"00-{stored[3:35]}-{span.get_span_context().span_id:016x}-{stored[-2:]}"
    assert current_traceparent() is None


def test_with_tracing_off_the_stored_trace_id_still_flows() -> None:
    noop = trace.NoOpTracer()
    stored = new_issuance_context(ATTRIBUTES, tracer=noop)
    assert TRACEPARENT.match(stored)
    assert new_issuance_context(tracer=noop) != stored
    with start_reconcile_span("reconcile", stored, tracer=noop):
        assert current_traceparent() == stored


@pytest.mark.parametrize("stored", [None, "", "garbage", "00-" + "0" * 32 + "-" + "1" * 16 + "-01"])
def test_missing_or_malformed_traceparent_starts_a_new_trace(
    process: Process, stored: str | None
) -> None:
    with start_reconcile_span("reconcile", stored, tracer=process.tracer) as span:
        assert span.get_span_context().is_valid
    [finished] = process.exporter.get_finished_spans()
    assert finished.parent is None


def test_exceptions_are_recorded_redacted_and_propagate(process: Process) -> None:
    register_secret(SECRET)
    url = "https://api.zerossl.com/certificates?access_key=urlsecret123&limit=1"
    with (
        pytest.raises(RuntimeError),
        start_span("zerossl.list_certificates", {"url": url}, tracer=process.tracer),
    ):
        raise RuntimeError(f"GET {url} failed with key {SECRET}")
    [span] = process.exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    [event] = span.events
    text = repr((span.attributes, event.attributes, span.status.description))
    assert SECRET not in text
    assert "urlsecret123" not in text
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "RuntimeError"
    assert "access_key=REDACTED" in str(event.attributes["exception.message"])


async def test_cancellation_is_not_an_error(process: Process) -> None:
    async def wait_in_span() -> None:
        with start_span("limiter.wait", tracer=process.tracer):
            await asyncio.sleep(10)

    task = asyncio.create_task(wait_in_span())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [span] = process.exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.UNSET
    assert not span.events


def test_safe_attributes() -> None:
    register_secret(SECRET)
    assert safe_attributes(
        {
            "a": f"x {SECRET}",
            "b": None,
            "c": 3,
            "d": True,
            "e": ["ok", SECRET],
            "f": {"k": SECRET},
            "g": 1.5,
        }
    ) == {
        "a": "x REDACTED",
        "c": 3,
        "d": True,
        "e": ["ok", "REDACTED"],
        "f": "{'k': 'REDACTED'}",
        "g": 1.5,
    }


def test_in_memory_hook_records_spans_of_the_global_tracer() -> None:
    exporter = install_in_memory_exporter()
    assert install_in_memory_exporter() is exporter
    exporter.clear()
    stored = new_issuance_context(ATTRIBUTES)
    with start_reconcile_span("reconcile", stored, ATTRIBUTES):
        pass
    names = [span.name for span in exporter.get_finished_spans()]
    assert names == [ISSUANCE_SPAN, "reconcile"]
