"""Cache-derived gauges: orders by status, issuer readiness, oldest pending request."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import REGISTRY

from controller.clock import FakeClock
from controller.issuer.controllers.caches import Caches
from controller.issuer.controllers.telemetry import CacheMetrics
from controller.kube.client import KubeClient
from controller.kube.kubeconfig import ClusterConfig

GROUP = "zerossl.issuer.dev"


def _caches() -> Caches:
    return Caches(KubeClient(ClusterConfig("http://127.0.0.1:9")), "zerossl-issuer-system")


def _request(
    name: str, created: str, reason: str | None, group: str = GROUP, *, approved: bool = False
) -> dict:
    conditions = [{"type": "Ready", "status": "False", "reason": reason}] if reason else []
    if approved:
        conditions.append({"type": "Approved", "status": "True", "reason": "cert-manager.io"})
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
        "spec": {"issuerRef": {"group": group, "kind": "ZeroSSLClusterIssuer", "name": "z"}},
        "status": {"conditions": conditions},
    }


def _issuer(name: str, ready: bool) -> dict:
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "ZeroSSLClusterIssuer",
        "metadata": {"name": name, "generation": 1},
        "spec": {"apiKeySecretRef": {"name": "k", "key": "api-key"}, "solvers": [{"http": {}}]},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "observedGeneration": 1}
            ]
        },
    }


def _sample(name: str, labels: dict[str, str] | None = None) -> float | None:
    return REGISTRY.get_sample_value(name, labels or {})


def test_gauges_follow_the_caches() -> None:
    caches = _caches()
    clock = FakeClock(datetime(2026, 5, 1, 12, 0, tzinfo=UTC))
    for name, created, reason, group in [
        ("old", "2026-05-01T10:00:00Z", "Pending", GROUP),
        ("new", "2026-05-01T11:59:00Z", "Pending", GROUP),
        ("done", "2026-04-01T00:00:00Z", "Issued", GROUP),
        ("foreign", "2026-01-01T00:00:00Z", "Pending", "cert-manager.io"),
    ]:
        caches.requests.store.put(_request(name, created, reason, group))
    for i, status in enumerate(["draft", "draft", "issued"]):
        order = {
            "metadata": {"name": f"o{i}", "namespace": "ns"},
            "status": {"zerosslStatus": status},
        }
        caches.orders.store.put(order)
    caches.cluster_issuers.store.put(_issuer("up", True))
    caches.cluster_issuers.store.put(_issuer("down", False))

    telemetry = CacheMetrics(caches, clock)
    telemetry.refresh()
    assert _sample("zerossl_issuer_certificaterequest_oldest_pending_seconds") == 7200
    assert _sample("zerossl_issuer_orders", {"zerossl_status": "draft"}) == 2
    assert _sample("zerossl_issuer_orders", {"zerossl_status": "issued"}) == 1
    ready = {"kind": "ZeroSSLClusterIssuer", "namespace": ""}
    assert _sample("zerossl_issuer_issuer_ready", {**ready, "name": "up"}) == 1
    assert _sample("zerossl_issuer_issuer_ready", {**ready, "name": "down"}) == 0

    # Vanished objects leave no stale series behind.
    caches.cluster_issuers.store.delete("down")
    caches.orders.store.delete("ns/o2")
    caches.requests.store.delete("ns/old")
    caches.requests.store.delete("ns/new")
    telemetry.refresh()
    assert _sample("zerossl_issuer_issuer_ready", {**ready, "name": "down"}) is None
    assert _sample("zerossl_issuer_orders", {"zerossl_status": "issued"}) is None
    assert _sample("zerossl_issuer_certificaterequest_oldest_pending_seconds") == 0


def test_an_approved_request_without_ready_is_pending_an_unapproved_one_is_not() -> None:
    # A request whose order works routinely shows no Ready condition (no Pending is written
    # for routine work); one not approved yet is not ours to issue.
    caches = _caches()
    clock = FakeClock(datetime(2026, 5, 1, 12, 0, tzinfo=UTC))
    caches.requests.store.put(_request("unapproved", "2026-05-01T09:00:00Z", None))
    caches.requests.store.put(_request("working", "2026-05-01T11:00:00Z", None, approved=True))

    CacheMetrics(caches, clock).refresh()

    assert _sample("zerossl_issuer_certificaterequest_oldest_pending_seconds") == 3600
