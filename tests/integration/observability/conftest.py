"""A Server on loopback whose registry has a sample in every family of the metric catalog."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator

import pytest

from controller.config import Settings
from controller.observability import metrics
from controller.server import Server
from tests.unit.observability.catalog import Family, catalog

VALIDATION_FILE = "0F70760EEC50DF6725F9592F26D7B0F3.txt"
VALIDATION_CONTENT = b"1397F9DA233B277153AE0B68083EFAC7\ncomodoca.com\n661862d3f"
# Issuer metrics keep their own namespace label through honor_labels; a cluster issuer has none.
ISSUERS = (
    ("ZeroSSLIssuer", "check-team", "check-namespaced"),
    ("ZeroSSLClusterIssuer", "", "check-cluster"),
)


def drive(family: Family) -> None:
    """Records one sample in the family (label values name the check, bounded as in production)."""
    labels = {name: f"check-{name}" for name in family.labels}
    child = family.metric.labels(**labels) if labels else family.metric
    if family.kind == "counter":
        child.inc()  # type: ignore[attr-defined]
    elif family.kind == "gauge":
        child.set(1)  # type: ignore[attr-defined]
    else:
        child.observe(0.3)  # type: ignore[attr-defined]


def populate_catalog() -> None:
    for family in catalog().values():
        drive(family)
    for kind, namespace, name in ISSUERS:
        metrics.issuer_ready.labels(kind, namespace, name).set(1)


@contextlib.asynccontextmanager
async def serve_populated_catalog() -> AsyncIterator[Server]:
    """A started Server on loopback ports, every catalog family holding a sample."""
    populate_catalog()
    settings = dataclasses.replace(
        Settings(), metrics_addr="127.0.0.1:0", probe_addr="127.0.0.1:0", solver_addr="127.0.0.1:0"
    )
    files = {VALIDATION_FILE: VALIDATION_CONTENT}
    async with Server(settings, health={}, readiness={}, solver_lookup=files.get) as server:
        yield server


@pytest.fixture
async def populated_server() -> AsyncIterator[Server]:
    async with serve_populated_catalog() as server:
        yield server
