"""JSON and console log lines: fields, reconcile context, trace ids, and redaction of secrets."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import threading
from collections.abc import Iterator

import orjson
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from controller.observability.logging import (
    WAKE_AT,
    LoggingHandle,
    configure_logging,
    log_context,
)
from controller.observability.redact import register_secret
from controller.observability.tracing import new_issuance_context, start_reconcile_span

SECRET = "zk-4f9a8c7e6d5b4a39281706f5e4d3c2b1"
URL_SECRET = "urlkey-0123456789abcdef"
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class Capture:
    """The log pipeline installed on a buffer; ``lines()`` closes it and returns the output."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.handles: list[LoggingHandle] = []

    def install(self, level: str = "debug", fmt: str = "json") -> None:
        self.handles.append(configure_logging(level, fmt, stream=self.buffer))

    def close(self) -> None:
        for handle in self.handles:
            handle.close()

    def lines(self) -> list[str]:
        self.close()
        return self.buffer.getvalue().splitlines()

    def records(self) -> list[dict[str, object]]:
        return [orjson.loads(line) for line in self.lines()]


@pytest.fixture
def capture() -> Iterator[Capture]:
    root = logging.getLogger()
    previous_level = root.level
    captured = Capture()
    captured.install()
    yield captured
    captured.close()
    root.setLevel(previous_level)


def test_json_line_has_the_documented_fields(capture: Capture) -> None:
    logging.getLogger("controller.test").info("issued %s", "default/web", extra={"outcome": "done"})
    [entry] = capture.records()
    assert RFC3339_UTC.match(str(entry["time"]))
    assert entry["level"] == "info"
    assert entry["logger"] == "controller.test"
    assert entry["message"] == "issued default/web"
    assert entry["outcome"] == "done"
    assert "trace_id" not in entry
    assert "key" not in entry


def test_reconcile_context_and_trace_ids_are_attached(capture: Capture) -> None:
    tracer = TracerProvider().get_tracer("test")
    with (
        log_context("default/web", controller="certificaterequests"),
        tracer.start_as_current_span("reconcile") as span,
    ):
        logging.getLogger("controller.test").warning("working")
    logging.getLogger("controller.test").warning("outside")
    inside, outside = capture.records()
    context = span.get_span_context()
    assert inside["key"] == "default/web"
    assert inside["controller"] == "certificaterequests"
    assert inside["trace_id"] == f"{context.trace_id:032x}"
    assert inside["span_id"] == f"{context.span_id:016x}"
    assert "key" not in outside
    assert "trace_id" not in outside


def test_explicit_extra_wins_over_the_context(capture: Capture) -> None:
    with log_context("default/from-context"):
        logging.getLogger("t").info("x", extra={"key": "default/explicit"})
    [entry] = capture.records()
    assert entry["key"] == "default/explicit"


async def test_context_does_not_leak_between_concurrent_tasks(capture: Capture) -> None:
    async def reconcile(key: str) -> None:
        with log_context(key):
            await asyncio.sleep(0)
            logging.getLogger("t").info("step")
            await asyncio.sleep(0)
            logging.getLogger("t").info("step")

    async with asyncio.TaskGroup() as tg:
        tg.create_task(reconcile("ns/a"))
        tg.create_task(reconcile("ns/b"))
    keys = [entry["key"] for entry in capture.records() if entry["logger"] == "t"]
    assert sorted(keys) == ["ns/a", "ns/a", "ns/b", "ns/b"]


def test_no_secret_survives_in_message_args_exception_or_extra(capture: Capture) -> None:
    register_secret(SECRET)
    log = logging.getLogger("controller.test")
    url = f"https://api.zerossl.com/certificates?access_key={URL_SECRET}&limit=100"
    log.info(f"key is {SECRET}")
    log.info("calling %s with %s", url, {"apiKey": SECRET})
    try:
        raise RuntimeError(f"request to {url} failed for {SECRET}")
    except RuntimeError:
        log.exception("zerossl call failed")
    log.info("done", extra={"url": url, "nested": {"list": [SECRET], "k": (SECRET,)}})
    log.info("stack", stack_info=True, extra={"value": object()})
    output = "\n".join(capture.lines())
    assert SECRET not in output
    assert URL_SECRET not in output
    assert output.count("REDACTED") >= 6
    assert "RuntimeError: request to https://api.zerossl.com/certificates?access_key=REDACTED" in (
        output.replace("\\n", "\n")
    )


def test_exception_and_stack_are_separate_fields(capture: Capture) -> None:
    try:
        {}["missing"]
    except KeyError:
        logging.getLogger("t").error("lookup failed", exc_info=True, stack_info=True)
    [entry] = capture.records()
    assert entry["message"] == "lookup failed"
    assert "KeyError: 'missing'" in str(entry["exception"])
    assert str(entry["stack"]).startswith("Stack (most recent call last)")


def test_level_filters_lower_records(capture: Capture) -> None:
    capture.install("warning")
    logging.getLogger("t").info("hidden")
    logging.getLogger("t").warning("shown")
    assert [entry["message"] for entry in capture.records()] == ["shown"]


def test_console_format(capture: Capture) -> None:
    capture.install("info", "console")
    register_secret(SECRET)
    with log_context("default/web"):
        try:
            raise ValueError(SECRET)
        except ValueError:
            logging.getLogger("controller.test").exception("failed", extra={"outcome": "error"})
    lines = capture.lines()
    assert re.match(
        r"^\S+Z ERROR   controller\.test: failed key=default/web outcome=error$", lines[0]
    ), lines[0]
    assert lines[-1] == "ValueError: REDACTED"
    assert SECRET not in "\n".join(lines)


def test_a_bad_format_string_does_not_raise(capture: Capture) -> None:
    logging.getLogger("t").info("%d items", "not-a-number")
    [entry] = capture.records()
    assert "unformattable arguments" in str(entry["message"])


@pytest.mark.parametrize(("level", "fmt"), [("verbose", "json"), ("info", "xml")])
def test_unknown_level_or_format_is_rejected(level: str, fmt: str) -> None:
    with pytest.raises(ValueError, match="unknown log"):
        configure_logging(level, fmt)


def test_lines_of_an_issuance_carry_its_trace_id_even_with_tracing_off(capture: Capture) -> None:
    off = trace.NoOpTracer()
    stored = new_issuance_context(tracer=off)
    with start_reconcile_span("reconcile", stored, tracer=off):
        logging.getLogger("t").info("reconciling")
    [entry] = capture.records()
    assert entry["trace_id"] == stored.split("-")[1]


def _written(capture: Capture, text: str) -> bool:
    """Polls (bounded) until ``text`` is in the buffer while the pipeline stays installed."""
    for _ in range(500):
        if text in capture.buffer.getvalue():
            return True
        threading.Event().wait(0.01)
    return False


def test_a_warning_is_written_without_waiting_for_close(capture: Capture) -> None:
    logging.getLogger("controller.test").warning("solver refused")
    assert _written(capture, "solver refused")


def test_routine_lines_are_written_in_batches_while_installed(capture: Capture) -> None:
    logging.getLogger("controller.test").info("order created")
    assert _written(capture, "order created")  # within the writer's interval, not at close


def test_every_line_handed_over_is_written_in_order_at_close(capture: Capture) -> None:
    log = logging.getLogger("controller.test")
    for number in range(3 * WAKE_AT + 7):
        log.info("line %d", number)
    messages = [entry["message"] for entry in capture.records()]
    assert messages == [f"line {number}" for number in range(3 * WAKE_AT + 7)]
