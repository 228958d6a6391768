"""Metrics, spans and logs around every DNS solver operation.

Invariant: each finished ``present``/``cleanup``/``wait`` adds one to
``solver_operations{solver, operation, outcome}`` with outcome ``ok``, a
:class:`DNSProviderError` kind, or ``error`` for anything unexpected; a cancelled operation
counts nothing. Spans and logs carry the record name, never credentials.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from controller.issuer.solvers.dns.errors import DNSProviderError
from controller.issuer.solvers.dns.protocols import DNSProvider
from controller.issuer.solvers.dns.record import CNAMERecord
from controller.observability.metrics import solver_operations
from controller.observability.tracing import start_span

log = logging.getLogger(__name__)


@contextlib.contextmanager
def observed(solver: str, operation: str, record: CNAMERecord) -> Iterator[None]:
    """Counts, traces and logs the operation run inside the block."""
    attributes = {"solver": solver, "dns.record": record.name}
    with start_span(f"dns.{operation}", attributes):
        try:
            yield
        except DNSProviderError as error:
            solver_operations.labels(solver, operation, error.kind).inc()
            log.info(
                "dns %s failed",
                operation,
                extra={"solver": solver, "record": record.name, "error": error.message},
            )
            raise
        except Exception:
            solver_operations.labels(solver, operation, "error").inc()
            raise
    solver_operations.labels(solver, operation, "ok").inc()
    log.debug("dns %s done", operation, extra={"solver": solver, "record": record.name})


class ObservedProvider:
    """A :class:`DNSProvider` whose operations are observed under the ``solver`` label."""

    def __init__(self, inner: DNSProvider, solver: str) -> None:
        self.inner = inner
        self.solver = solver

    async def present(self, record: CNAMERecord) -> None:
        with observed(self.solver, "present", record):
            await self.inner.present(record)

    async def cleanup(self, record: CNAMERecord) -> None:
        with observed(self.solver, "cleanup", record):
            await self.inner.cleanup(record)
