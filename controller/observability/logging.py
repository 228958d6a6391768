"""Structured logs: one JSON object per line (or console text), secrets redacted, context attached.

Invariants:
- Every record that reaches the root handler first passes :class:`ContextFilter` (reconcile key
  and controller from :func:`log_context`, trace and span ids of the current OpenTelemetry span)
  and then :class:`RedactingFilter` (message, arguments, exception text, stack and extra fields
  through ``redact_text``). Both run in the emitting task, so context variables are the caller's.
- Formatting happens in the caller; only the finished line crosses to a writer thread, so a
  slow log pipe never blocks the event loop. The writer wakes every :data:`WRITE_INTERVAL` (at
  once for a WARNING or worse, or when :data:`WAKE_AT` lines wait) and writes what waits in
  one call: a line costs the caller an append, not a thread hand-off and a flush.
- Every line handed over is written, in order: :meth:`LoggingHandle.close` (also at
  interpreter exit) drains what waits.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import sys
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Final

import orjson
from opentelemetry import trace

from controller.clock import rfc3339_micro
from controller.observability.redact import redact_text

LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
FORMATS: Final = ("json", "console")
CONTEXT_FIELDS: Final = ("key", "controller", "trace_id", "span_id")
WRITE_INTERVAL: Final = 0.2
"""Seconds between the writer thread's rounds when nothing urgent waits."""
WAKE_AT: Final = 256
"""Waiting lines that wake the writer before its interval is up."""

# Attributes every LogRecord has; anything else on a record came from ``extra=`` or a filter.
_STANDARD_ATTRS: Final = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
}

_reconcile_key: ContextVar[str | None] = ContextVar("zerossl_issuer_log_key", default=None)
_controller: ContextVar[str | None] = ContextVar("zerossl_issuer_log_controller", default=None)


@contextlib.contextmanager
def log_context(key: str, controller: str | None = None) -> Iterator[None]:
    """Within the block, every log line of this task carries ``key`` (and ``controller``)."""
    key_token = _reconcile_key.set(key)
    controller_token = _controller.set(controller)
    try:
        yield
    finally:
        _controller.reset(controller_token)
        _reconcile_key.reset(key_token)


class ContextFilter(logging.Filter):
    """Adds key, controller, trace_id and span_id to a record unless ``extra=`` already did."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields: dict[str, str | None] = {
            "key": _reconcile_key.get(),
            "controller": _controller.get(),
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            fields["trace_id"] = format(span_context.trace_id, "032x")
            fields["span_id"] = format(span_context.span_id, "016x")
        for name, value in fields.items():
            if value is not None and not hasattr(record, name):
                setattr(record, name, value)
        return True


def _scrub(value: object) -> object:
    """A JSON-friendly copy of ``value`` with every string redacted."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {redact_text(str(k)): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v) for v in value]
    return redact_text(str(value))


class RedactingFilter(logging.Filter):
    """Rewrites a record in place so no secret survives in any of its text.

    The message is merged with its arguments first (``args`` becomes None), the exception is
    rendered into ``exc_text``, and then everything is redacted.
    """

    _renderer = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break the caller
            message = f"{record.msg} (unformattable arguments: {record.args!r})"
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._renderer.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        for name in extra_fields(record):
            setattr(record, name, _scrub(getattr(record, name)))
        return True


def extra_fields(record: logging.LogRecord) -> list[str]:
    """Names of the non-standard attributes on a record: context fields first, then extras."""
    names = [k for k in vars(record) if k not in _STANDARD_ATTRS and not k.startswith("_")]
    return sorted(
        names, key=lambda k: CONTEXT_FIELDS.index(k) if k in CONTEXT_FIELDS else len(CONTEXT_FIELDS)
    )


def _timestamp(record: logging.LogRecord) -> str:
    return rfc3339_micro(datetime.fromtimestamp(record.created, UTC))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, then context and extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {name: getattr(record, name) for name in extra_fields(record)}
        entry.update(
            time=_timestamp(record),
            level=record.levelname.lower(),
            logger=record.name,
            message=record.getMessage(),
        )
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return orjson.dumps(entry, default=str).decode()


class ConsoleFormatter(logging.Formatter):
    """Human-readable: ``time LEVEL logger: message k=v ...`` with the traceback below."""

    def format(self, record: logging.LogRecord) -> str:
        pairs = " ".join(f"{k}={getattr(record, k)}" for k in extra_fields(record))
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        parts = [f"{line} {pairs}" if pairs else line]
        parts.extend(text for text in (record.exc_text, record.stack_info) if text)
        return "\n".join(parts)


class _LineWriter:
    """The writer thread: writes the lines handed to it, in batches, to ``stream``."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lines: deque[str] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, line: str, *, urgent: bool) -> None:
        """Hands ``line`` over (thread-safe); ``urgent`` wakes the writer at once."""
        self._lines.append(line)
        if urgent or len(self._lines) >= WAKE_AT:
            self._wake.set()

    def stop(self) -> None:
        """Writes what waits and ends the thread."""
        self._stopping = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self._wake.wait(WRITE_INTERVAL)
            self._wake.clear()
            stopping = self._stopping
            self._write_waiting()
            if stopping:
                return

    def _write_waiting(self) -> None:
        batch: list[str] = []
        with contextlib.suppress(IndexError):
            while True:
                batch.append(self._lines.popleft())
        if not batch:
            return
        try:
            self._stream.write("\n".join(batch) + "\n")
            self._stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nowhere left to write
            pass


class _RootHandler(logging.Handler):
    """The handler :func:`configure_logging` installs on the root logger: formats a record
    in the caller (after the filters) and hands the line to the writer thread."""

    def __init__(self, writer: _LineWriter) -> None:
        super().__init__()
        self._writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._writer.put(line, urgent=record.levelno >= logging.WARNING)


class LoggingHandle:
    """The installed log pipeline; :meth:`close` flushes pending lines and uninstalls it."""

    def __init__(self, handler: _RootHandler, writer: _LineWriter) -> None:
        self._handler = handler
        self._writer: _LineWriter | None = writer

    def close(self) -> None:
        """Idempotent: removes the root handler, then drains and stops the writer thread."""
        atexit.unregister(self.close)
        logging.getLogger().removeHandler(self._handler)
        logging.captureWarnings(False)
        if self._writer is not None:
            self._writer.stop()
            self._writer = None


def configure_logging(level: str, fmt: str, *, stream: IO[str] | None = None) -> LoggingHandle:
    """Installs the root log pipeline: ``fmt`` is json or console, ``level`` a LEVELS key.

    Replaces a pipeline installed earlier by this function (other root handlers stay). Lines go
    to ``stream`` (default stderr). Raises ValueError on an unknown level or format.
    """
    if level.lower() not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(LEVELS)}")
    if fmt.lower() not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; expected one of {', '.join(FORMATS)}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _RootHandler)]:
        root.removeHandler(old)
    writer = _LineWriter(stream if stream is not None else sys.stderr)
    handler = _RootHandler(writer)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt.lower() == "json" else ConsoleFormatter())
    root.setLevel(LEVELS[level.lower()])
    root.addHandler(handler)
    logging.captureWarnings(True)
    writer.start()
    handle = LoggingHandle(handler, writer)
    atexit.register(handle.close)  # lines still queued at interpreter exit get written
    return handle
