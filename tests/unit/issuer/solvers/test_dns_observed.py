"""Metrics and errors around DNS operations: outcomes counted once, secrets never shown."""

from __future__ import annotations

import asyncio
import email.utils
import time

import pytest

from controller.issuer.solvers.dns import CNAMERecord, RateLimited, TransportError
from controller.issuer.solvers.dns.errors import DNSProviderError
from controller.issuer.solvers.dns.observed import ObservedProvider
from controller.issuer.solvers.dns.webapi import parse_retry_after
from controller.observability.metrics import solver_operations
from controller.observability.redact import register_secret

RECORD = CNAMERecord("_abc.example.com", "t.comodoca.com")


class Scripted:
    """A provider whose ``present`` raises ``error`` (None: succeeds)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error

    async def present(self, record: CNAMERecord) -> None:
        if self.error is not None:
            raise self.error

    async def cleanup(self, record: CNAMERecord) -> None:
        await asyncio.sleep(10)


def count(outcome: str, operation: str = "present") -> float:
    return float(solver_operations.labels("test", operation, outcome)._value.get())


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (None, "ok"),
        (TransportError("down"), "transport"),
        (RateLimited("slow down", retry_after=3), "rate_limited"),
        (RuntimeError("bug"), "error"),
    ],
)
async def test_each_outcome_is_counted_once(error: Exception | None, outcome: str) -> None:
    before = count(outcome)
    provider = ObservedProvider(Scripted(error), "test")
    if error is None:
        await provider.present(RECORD)
    else:
        with pytest.raises(type(error)):
            await provider.present(RECORD)
    assert count(outcome) == before + 1


async def test_a_cancelled_operation_counts_nothing() -> None:
    outcomes = ("ok", "error", "transport")
    before = [count(o, "cleanup") for o in outcomes]
    task = asyncio.create_task(ObservedProvider(Scripted(), "test").cleanup(RECORD))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [count(o, "cleanup") for o in outcomes] == before


def test_error_messages_hide_registered_secrets() -> None:
    register_secret("tsig-secret-value-XYZ")
    error = DNSProviderError("key tsig-secret-value-XYZ was refused")
    assert "tsig-secret-value-XYZ" not in str(error)
    assert not error.retryable
    assert TransportError("x").retryable
    assert DNSProviderError("x", retryable=True).retryable


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    later = parse_retry_after(email.utils.formatdate(time.time() + 30, usegmt=True))
    assert later is not None
    assert 25 < later <= 30
    assert parse_retry_after(email.utils.formatdate(time.time() - 30, usegmt=True)) == 0.0
