"""One trace covers an issuance that spans a controller restart.

The real controller process exports its spans by OTLP/HTTP to a collector in the test. ZeroSSL
holds the certificate after validation, the replica is stopped (a graceful stop flushes its
spans) and started again, ZeroSSL releases the certificate and the second lifetime finishes the
issuance. The trace id stored on the ZeroSSLOrder names one tree: the ``issuance`` root, the
reconciles of both lifetimes as its children, and under them the ZeroSSL calls (create and
verify before the restart; after it, the verify again: the accepted validation was kept in the
first process's memory only, see docs/api.md "Which writes crash safety needs") and the status
writes of the order and the request.
"""

from __future__ import annotations

from collections import Counter
from typing import Final

import pytest

from controller.sandbox.stack import Stack, issuer_ref, make_csr
from controller.sandbox.stack.waiting import poll
from tests.e2e.conftest import StackFactory
from tests.e2e.support import E2E_NAMESPACE
from tests.e2e.support.obs_otlp import OTLPCollector, ReceivedSpan

ISSUER: Final = "traced"
REQUEST: Final = "traced"
NAMES: Final = ["traced.zerossl-issuer.dev"]
SERVICE: Final = "zerossl-issuer-e2e"
TRACEPARENT: Final = "zerossl.issuer.dev/traceparent"
ORDER_API: Final = "zerossl.issuer.dev/v1alpha1"
HTTP_ISSUER: Final = {
    "apiKeySecretRef": {"name": "zerossl-api-key", "key": "api-key"},
    "solvers": [{"http": {"none": {}}}],
}
pytestmark = pytest.mark.timeout(90)


def parse_traceparent(value: str) -> tuple[str, str]:
    """(trace id, parent span id) of a W3C ``traceparent``."""
    version, trace_id, span_id, _flags = value.split("-")
    assert version == "00", value
    return trace_id, span_id


class Tree:
    """The spans of one trace, split by the controller lifetime that exported them."""

    def __init__(self, received: list[ReceivedSpan], trace_id: str, first_lifetime: int) -> None:
        """``received``: every span in arrival order, the first ``first_lifetime`` of them
        exported by the first process."""
        self.lifetimes = tuple(
            [span for span in part if span.trace_id == trace_id]
            for part in (received[:first_lifetime], received[first_lifetime:])
        )
        self.spans = [*self.lifetimes[0], *self.lifetimes[1]]
        self.by_id = {span.span_id: span for span in self.spans}

    def children(self, parent: ReceivedSpan, lifetime: int) -> list[ReceivedSpan]:
        return [s for s in self.lifetimes[lifetime] if s.parent_id == parent.span_id]

    def under(self, parents: list[ReceivedSpan], lifetime: int) -> Counter[str]:
        """Names of the spans directly under ``parents`` exported by ``lifetime``."""
        return Counter(s.name for p in parents for s in self.children(p, lifetime))


async def hold_then_restart(stack: Stack, collector: OTLPCollector) -> int:
    """Issue until ZeroSSL holds the certificate, then restart the replica; returns how many
    spans the first lifetime exported."""
    cluster, emulator, replica = stack.cluster, stack.emulator, stack.replicas[0]
    emulator.faults.stuck_issuance = True
    await cluster.create_issuer("ZeroSSLClusterIssuer", ISSUER, None, HTTP_ISSUER)
    ref = issuer_ref("ZeroSSLClusterIssuer", ISSUER)
    await cluster.create_certificate_request(E2E_NAMESPACE, REQUEST, make_csr(NAMES), ref)

    async def held() -> bool | None:
        return True if any(c.held for c in emulator.certificates()) else None

    await poll(held, timeout=20, describe=lambda: "ZeroSSL never got to hold the certificate")
    assert await replica.terminate() == 0  # a graceful stop flushes the batch of spans
    first_lifetime = len(collector.spans)
    await replica.start()
    assert emulator.release_all() == 1
    await cluster.wait_for_request(E2E_NAMESPACE, REQUEST, reason="Issued", timeout=30)
    assert await replica.terminate() == 0
    return first_lifetime


async def test_one_trace_spans_an_issuance_across_a_restart(stack_factory: StackFactory) -> None:
    async with OTLPCollector() as collector:
        env = collector.environment(SERVICE)
        async with stack_factory(replicas=1, controller_env=env) as stack:
            first_lifetime = await hold_then_restart(stack, collector)
            order = await stack.kube.get(ORDER_API, "ZeroSSLOrder", REQUEST, E2E_NAMESPACE)
    assert order is not None
    stored = order["metadata"]["annotations"][TRACEPARENT]
    assert order["status"]["traceContext"]["traceparent"] == stored
    trace_id, root_id = parse_traceparent(stored)
    tree = Tree(collector.spans, trace_id, first_lifetime)
    assert {span.service for span in tree.spans} == {SERVICE}

    # One root, the issuance, named by the stored traceparent; every other span hangs under it.
    roots = [span for span in tree.spans if span.parent_id is None]
    assert [(r.name, r.span_id) for r in roots] == [("issuance", root_id)]
    orphans = [s.name for s in tree.spans if s.parent_id and s.parent_id not in tree.by_id]
    assert orphans == []
    root = roots[0]
    assert root.attributes["zerossl_issuer.request"] == f"{E2E_NAMESPACE}/{REQUEST}"
    assert root in tree.lifetimes[0]

    # Both lifetimes reconcile the request and its order as children of the same root.
    first, second = (tree.children(root, lifetime) for lifetime in (0, 1))
    for reconciles in (first, second):
        assert {s.name for s in reconciles} == {
            "reconcile.certificaterequest",
            "reconcile.order",
        }, reconciles
    assert {s.name for s in tree.spans if s.name.startswith("reconcile.")} == {
        "reconcile.certificaterequest",
        "reconcile.order",
    }

    # Under the reconciles: ZeroSSL calls and Kubernetes writes, each where it happened.
    before, after = tree.under(first, 0), tree.under(second, 1)
    assert before["zerossl.create"] == 1, before
    assert before["zerossl.verify"] == 1, before
    assert before["kube.create"] >= 1, before  # the order, created by the first request reconcile
    assert before["kube.update"] >= 1, before  # the order's status (validation records)
    assert "zerossl.create" not in after, after
    assert after["zerossl.verify"] == 1, after  # the accepted validation, redone
    assert after["kube.update"] >= 1, after  # the order's status (issued)
    assert after["kube.patch"] >= 1, after  # the request's status (Issued)
