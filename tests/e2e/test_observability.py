"""A real Prometheus scrapes the real controller during an issuance, and its HTTP API answers
the series an operator watches: first while ZeroSSL holds the certificate (a pending request,
a pending order), then once it is issued (outcomes, issuance latency, the three ZeroSSL calls,
the HTTP solver serving the validation file, reconciles, the Lease, the issuer)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

import pytest

from controller.issuer.order_steps import OrderPolicy
from controller.sandbox.stack import Stack, issuer_ref, make_csr
from controller.sandbox.stack.waiting import poll
from tests.e2e.conftest import StackFactory
from tests.e2e.support import E2E_NAMESPACE
from tests.e2e.support.obs_prometheus import JOB, Prometheus, running_prometheus

ISSUER: Final = "observed"
REQUEST: Final = "observed"
NAMES: Final = ["observed.zerossl-issuer.dev"]
HTTP_ISSUER: Final = {
    "apiKeySecretRef": {"name": "zerossl-api-key", "key": "api-key"},
    "solvers": [{"http": {"none": {}}}],
}
HOLD_TIMEOUT: Final = 30.0  # the cache-derived gauges refresh every 10 s, then one 1 s scrape
QUERY_TIMEOUT: Final = 15.0
ACCEPTED_SHOWN: Final = OrderPolicy().defer_max + HOLD_TIMEOUT
"""An accepted validation stays unwritten up to defer_max (one status write fewer per
issuance): the cache-derived order gauge shows it once written."""
pytestmark = pytest.mark.timeout(180)


async def scalar(prometheus: Prometheus, promql: str) -> float | None:
    """The value of a query answering one series; None while it answers none."""
    rows = await prometheus.query(promql)
    if len(rows) > 1:
        raise AssertionError(f"{promql} answered {len(rows)} series: {rows}")
    return float(rows[0]["value"][1]) if rows else None


async def until(
    prometheus: Prometheus,
    promql: str,
    accept: Callable[[float], bool],
    *,
    timeout: float = QUERY_TIMEOUT,
) -> float:
    """The query's value once ``accept`` holds for it (bounded)."""
    last: list[float | None] = [None]

    async def probe() -> float | None:
        value = last[0] = await scalar(prometheus, promql)
        return value if value is not None and accept(value) else None

    return await poll(
        probe, timeout=timeout, describe=lambda: f"Prometheus: {promql} is {last[0]}", interval=0.5
    )


def series(metric: str, /, **labels: str) -> str:
    """``name{job="zerossl-issuer", label="value", ...}``; a value starting with ``!`` negates."""
    matchers = [f'job="{JOB}"'] + [
        f'{k}!="{v[1:]}"' if v.startswith("!") else f'{k}="{v}"' for k, v in labels.items()
    ]
    return f"{metric}{{{', '.join(matchers)}}}"


async def hold_issuance(stack: Stack) -> None:
    """An issuer and a request whose certificate ZeroSSL validates, then holds."""
    cluster, emulator = stack.cluster, stack.emulator
    emulator.faults.stuck_issuance = True
    await cluster.create_issuer("ZeroSSLClusterIssuer", ISSUER, None, HTTP_ISSUER)
    ref = issuer_ref("ZeroSSLClusterIssuer", ISSUER)
    await cluster.create_certificate_request(E2E_NAMESPACE, REQUEST, make_csr(NAMES), ref)

    async def held() -> bool | None:
        return True if any(c.held for c in emulator.certificates()) else None

    await poll(held, timeout=QUERY_TIMEOUT, describe=lambda: "ZeroSSL never got to hold it")


async def assert_pending_series(prometheus: Prometheus) -> None:
    """While ZeroSSL holds the certificate (one refresh of the cache-derived gauges)."""
    pending = series("zerossl_issuer_certificaterequest_oldest_pending_seconds")
    await until(prometheus, pending, lambda age: age > 0, timeout=HOLD_TIMEOUT)
    orders = series("zerossl_issuer_orders", zerossl_status="pending_validation")
    await until(prometheus, orders, lambda count: count == 1, timeout=ACCEPTED_SHOWN)
    ready = series("zerossl_issuer_issuer_ready", name=ISSUER, kind="ZeroSSLClusterIssuer")
    await until(prometheus, ready, lambda value: value == 1)


async def test_prometheus_follows_an_issuance(stack_factory: StackFactory, tmp_path: Path) -> None:
    async with stack_factory(replicas=1) as stack:
        replica = stack.replicas[0]
        target = f"127.0.0.1:{replica.ports.metrics}"
        async with running_prometheus([target], tmp_path / "prometheus") as prometheus:
            await until(prometheus, series("up"), lambda up: up == 1)
            lease = stack.options.controller.lease_name
            leader = series("leader_election_master_status", name=lease)
            await until(prometheus, leader, lambda status: status == 1)

            await hold_issuance(stack)
            await assert_pending_series(prometheus)
            assert stack.emulator.release_all() == 1
            await stack.cluster.wait_for_request(E2E_NAMESPACE, REQUEST, reason="Issued")
            await assert_issued_series(prometheus)


async def assert_issued_series(prometheus: Prometheus) -> None:
    """After the issuance: what it did is in Prometheus, counted once where it happened once."""
    issued = series("zerossl_issuer_certificaterequest_outcomes_total", reason="Issued")
    assert await until(prometheus, issued, lambda n: n >= 1) == 1
    kind = "ZeroSSLClusterIssuer"
    latency = series("zerossl_issuer_issuance_duration_seconds_count", issuer_kind=kind)
    assert await until(prometheus, latency, lambda n: n >= 1) == 1
    took = series("zerossl_issuer_issuance_duration_seconds_sum", issuer_kind=kind)
    assert 0 < await until(prometheus, took, lambda s: s > 0) < 60

    # The floor of three calls per certificate, each once; pending ones are batch-polled (list).
    for endpoint in ("create", "verify", "download"):
        calls = series("zerossl_issuer_zerossl_requests_total", endpoint=endpoint, outcome="ok")
        assert await until(prometheus, calls, lambda n: n >= 1) == 1, endpoint
    polls = series("zerossl_issuer_zerossl_requests_total", endpoint="list", outcome="ok")
    await until(prometheus, polls, lambda n: n >= 1)
    failed = f"sum({series('zerossl_issuer_zerossl_requests_total', outcome='!ok')})"
    assert await scalar(prometheus, failed) in (None, 0.0)

    served = series("zerossl_issuer_http_solver_requests_total", outcome="served")
    await until(prometheus, served, lambda n: n >= 1)
    for controller in ("certificaterequests", "zerosslorders", "zerosslissuers"):
        done = f"sum({series('zerossl_issuer_reconcile_total', controller=controller)})"
        await until(prometheus, done, lambda n: n >= 1)
    created = series("zerossl_issuer_kube_requests_total", verb="create", code="201")
    await until(prometheus, created, lambda n: n >= 1)
    issued_orders = series("zerossl_issuer_orders", zerossl_status="issued")
    await until(prometheus, issued_orders, lambda n: n == 1, timeout=HOLD_TIMEOUT)
    pending = series("zerossl_issuer_certificaterequest_oldest_pending_seconds")
    await until(prometheus, pending, lambda age: age == 0, timeout=HOLD_TIMEOUT)
