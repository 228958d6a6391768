"""Tracing: one trace per issuance, carried on the ZeroSSLOrder as a W3C ``traceparent`` string.

Invariants:
- Off unless the standard ``OTEL_*`` variables ask for it (see :func:`exporters_from_env`); when
  off, spans cost nothing but stored trace context still flows, so log lines keep the trace id,
  and neither the SDK nor the OTLP exporter is imported (only the API is).
- The stored ``traceparent`` names the issuance root span (:func:`new_issuance_context`); every
  reconcile that works on the issuance is a child of it (:func:`start_reconcile_span`), in any
  process and under any TracerProvider, so restarts and leader changes continue the same trace.
- Attribute values and exception text pass through ``redact_text`` (:func:`safe_attributes`,
  :func:`start_span`); exceptions are recorded without stack traces or locals.
"""

from __future__ import annotations

import contextlib
import functools
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from controller.config import ConfigError
from controller.observability.redact import redact_text

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

TRACER_NAME: Final = "zerossl_issuer"
ATTR_REQUEST: Final = "zerossl_issuer.request"  # CertificateRequest "namespace/name"
ATTR_ORDER: Final = "zerossl_issuer.order"  # ZeroSSLOrder "namespace/name"
ATTR_ISSUER: Final = "zerossl_issuer.issuer"  # "kind/namespace/name" ("kind//name" if cluster)
ISSUANCE_SPAN: Final = "issuance"

_SUPPORTED_PROTOCOL: Final = "http/protobuf"
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_TRUE: Final = frozenset({"true", "1", "yes", "on"})


def exporters_from_env(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The span exporters the standard variables select: ``("otlp",)`` or ``()`` (off).

    ``OTEL_SDK_DISABLED=true`` turns tracing off. ``OTEL_TRACES_EXPORTER`` names the exporters
    (``otlp`` or ``none``); when it is unset, tracing is on only if an OTLP endpoint is set
    (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``). Only the
    http/protobuf protocol is available. Raises ConfigError naming the offending variable.
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        return ()
    raw = environ.get("OTEL_TRACES_EXPORTER", "").strip()
    if not raw:
        endpoints = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
        names = {"otlp"} if any(environ.get(v, "").strip() for v in endpoints) else set()
    else:
        names = {name.strip().lower() for name in raw.split(",") if name.strip()} - {"none"}
    if unknown := names - {"otlp"}:
        raise ConfigError(
            f"OTEL_TRACES_EXPORTER={raw!r}: unsupported exporter(s) {', '.join(sorted(unknown))};"
            " use otlp or none"
        )
    protocols = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
    variable = next((v for v in protocols if environ.get(v, "").strip()), None)
    if names and variable and (protocol := environ[variable].strip()) != _SUPPORTED_PROTOCOL:
        raise ConfigError(f"{variable}={protocol!r}: only {_SUPPORTED_PROTOCOL} is supported")
    return tuple(sorted(names))


def build_tracer_provider(
    service_name: str,
    resource_attributes: Mapping[str, AttributeValue] | None = None,
    *,
    environ: Mapping[str, str],
) -> TracerProvider | None:
    """A provider exporting by OTLP/HTTP as ``environ`` says, or None when tracing is off.

    The exporter itself reads the remaining ``OTEL_EXPORTER_OTLP_*`` variables (endpoint,
    headers, timeout, TLS) and the batch processor the ``OTEL_BSP_*`` ones from the process
    environment. ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` win over the arguments.
    """
    if not exporters_from_env(environ):
        return None
    # Imported only when tracing is on: the exporter pulls in requests and protobuf.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    own = Resource.create({"service.name": service_name, **(resource_attributes or {})})
    provider = TracerProvider(resource=own.merge(OTELResourceDetector().detect()))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def configure_tracing(
    service_name: str,
    resource_attributes: Mapping[str, AttributeValue] | None = None,
    *,
    environ: Mapping[str, str],
) -> TracerProvider | None:
    """Builds the provider and installs it globally; the caller shuts it down at exit.

    ``provider.shutdown()`` flushes pending spans and may block for the export timeout: call it
    through ``asyncio.to_thread``. Returns None, installing nothing, when tracing is off.
    """
    provider = build_tracer_provider(service_name, resource_attributes, environ=environ)
    if provider is not None:
        trace.set_tracer_provider(provider)
    return provider


@functools.cache
def install_in_memory_exporter() -> InMemorySpanExporter:
    """Test hook: records every span of this process in memory, synchronously.

    Installs a global provider once per process (OpenTelemetry allows only one) and returns the
    same exporter on every call; tests call ``clear()`` on it between cases.
    """
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: PLC0415
        InMemorySpanExporter,
    )

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


def _tracer(tracer: trace.Tracer | None) -> trace.Tracer:
    return tracer if tracer is not None else trace.get_tracer(TRACER_NAME)


def safe_attributes(attributes: Mapping[str, object] | None) -> dict[str, AttributeValue]:
    """Span attributes with strings redacted, None dropped and other values as strings."""
    safe: dict[str, AttributeValue] = {}
    for name, value in (attributes or {}).items():
        if value is None:
            continue
        if isinstance(value, bool | int | float):
            safe[name] = value
        elif isinstance(value, str):
            safe[name] = redact_text(value)
        elif isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
            safe[name] = [redact_text(v) for v in value]
        else:
            safe[name] = redact_text(str(value))
    return safe


def record_error(span: Span, error: BaseException) -> None:
    """Marks the span failed with the exception's type and redacted message (no stack trace)."""
    message = redact_text(str(error))
    span.add_event(
        "exception",
        {"exception.type": type(error).__qualname__, "exception.message": message},
    )
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {message}"))


@contextlib.contextmanager
def start_span(
    name: str,
    attributes: Mapping[str, object] | None = None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: otel_context.Context | None = None,
    links: Sequence[trace.Link] = (),
    tracer: trace.Tracer | None = None,
) -> Iterator[Span]:
    """A current span with safe attributes; an exception marks it failed, redacted, and propagates.

    Cancellation is not an error: the span just ends. Use this (not the raw tracer) for every span
    the controller makes, so exception text never reaches an exporter unredacted.
    """
    with _tracer(tracer).start_as_current_span(
        name,
        context=parent,
        kind=kind,
        links=links,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        if span.is_recording():  # with tracing off, no attribute is redacted for nothing
            span.set_attributes(safe_attributes(attributes))
        try:
            yield span
        except Exception as error:
            record_error(span, error)
            raise


@functools.lru_cache(maxsize=1024)
def _context_of(traceparent: str | None) -> otel_context.Context | None:
    """The context a stored traceparent names, or None if it is absent or malformed (an
    issuance's reconciles share one traceparent: parsed once while it is in use)."""
    if not traceparent:
        return None
    extracted = _PROPAGATOR.extract({"traceparent": traceparent})
    return extracted if trace.get_current_span(extracted).get_span_context().is_valid else None


def _traceparent_of(span_context: trace.SpanContext) -> str:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(
        carrier, context=trace.set_span_in_context(trace.NonRecordingSpan(span_context))
    )
    return carrier["traceparent"]


def new_issuance_context(
    attributes: Mapping[str, object] | None = None, *, tracer: trace.Tracer | None = None
) -> str:
    """Starts a new issuance trace and returns its root's ``traceparent`` to store on the Order.

    The root span ("issuance") is ended at once: it marks the start and carries the request,
    order and issuer attributes; the reconciles that follow are its children. With tracing off a
    random, valid traceparent is returned, so logs of the issuance still share one trace id.
    """
    with start_span(
        ISSUANCE_SPAN, attributes, parent=otel_context.Context(), tracer=tracer
    ) as root:
        span_context = root.get_span_context()
    if not span_context.is_valid:
        span_context = trace.SpanContext(
            trace_id=_random_id(128),
            span_id=_random_id(64),
            is_remote=False,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
    return _traceparent_of(span_context)


def _random_id(bits: int) -> int:
    """A random non-zero id (zero is W3C's invalid id), as the SDK's RandomIdGenerator draws."""
    while not (value := random.getrandbits(bits)):
        pass
    return value


@contextlib.contextmanager
def start_reconcile_span(
    name: str,
    traceparent: str | None,
    attributes: Mapping[str, object] | None = None,
    *,
    tracer: trace.Tracer | None = None,
) -> Iterator[Span]:
    """A reconcile span, child of the issuance root ``traceparent`` names.

    Without a (valid) traceparent the span is a child of the current context (a new root when
    there is none); a malformed stored value never fails a reconcile.
    """
    with start_span(name, attributes, parent=_context_of(traceparent), tracer=tracer) as span:
        yield span


def current_traceparent() -> str | None:
    """The ``traceparent`` of the current span, or None when there is no valid one."""
    span_context = trace.get_current_span().get_span_context()
    return _traceparent_of(span_context) if span_context.is_valid else None
