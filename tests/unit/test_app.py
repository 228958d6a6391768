"""Controller wiring that needs no API server: who the elector talks through, and handlers."""

from __future__ import annotations

import asyncio

from controller.app import Controller
from controller.config import load
from controller.kube.cached import CachedObject
from controller.kube.client import KubeClient
from controller.kube.kubeconfig import ClusterConfig


def _client() -> KubeClient:
    return KubeClient(ClusterConfig("http://127.0.0.1:9"))


def test_the_elector_has_a_client_of_its_own() -> None:
    kube, lease = _client(), _client()
    controller = Controller(load({}, []), kube, lease_client=lease)
    assert controller.elector is not None
    assert controller.elector.client is lease


def test_without_leader_election_there_is_no_elector() -> None:
    settings = load({"ZEROSSL_ISSUER_LEADER_ELECT": "false"}, [])
    assert Controller(settings, _client()).elector is None


async def test_standby_replicas_queue_nothing_until_they_lead() -> None:
    controller = Controller(load({}, []), _client())
    request = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "metadata": {"name": "r", "namespace": "ns", "resourceVersion": "1"},
        "spec": {
            "issuerRef": {"group": "zerossl.issuer.dev", "kind": "ZeroSSLIssuer", "name": "i"}
        },
    }
    controller._on_request(CachedObject.encode(request))
    assert len(controller.request_queue) == 0
    controller.leading = True
    controller._on_request(CachedObject.encode(request))
    controller._on_request(
        CachedObject.encode({**request, "spec": {"issuerRef": {"name": "other"}}})
    )
    assert len(controller.request_queue) == 1


async def test_a_changed_solver_secret_wakes_the_orders_that_read_it() -> None:
    controller = Controller(load({"ZEROSSL_ISSUER_NAMESPACE": "sys"}, []), _client())
    order = {
        "apiVersion": "zerossl.issuer.dev/v1alpha1",
        "kind": "ZeroSSLOrder",
        "metadata": {"name": "o", "namespace": "team"},
        "spec": {
            "issuerRef": {"kind": "ZeroSSLIssuer", "name": "i"},
            "solvers": [
                {
                    "domain": "a.example.com",
                    "solverIndex": 0,
                    "dns": {"rfc2136": {"nameserver": "ns", "tsigSecretRef": {"name": "tsig"}}},
                }
            ],
        },
    }
    controller.caches.orders.store.put(order)
    controller.leading = True
    controller._on_secret(CachedObject.encode({"metadata": {"name": "tsig", "namespace": "sys"}}))
    assert len(controller.order_queue) == 0  # a namespaced issuer reads its own namespace
    controller._on_secret(CachedObject.encode({"metadata": {"name": "tsig", "namespace": "team"}}))
    assert len(controller.order_queue) == 1


async def test_becoming_leader_queues_everything_without_holding_the_loop() -> None:
    controller = Controller(load({}, []), _client())
    for i in range(1000):
        controller.caches.requests.store.put(
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "CertificateRequest",
                "metadata": {"name": f"r{i}", "namespace": "ns", "resourceVersion": "1"},
                "spec": {
                    "issuerRef": {
                        "group": "zerossl.issuer.dev",
                        "kind": "ZeroSSLIssuer",
                        "name": "i",
                    }
                },
            },
        )
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    controller.leading = True
    await controller._enqueue_everything()
    task.cancel()
    assert len(controller.request_queue) == 1000
    assert ticks >= 3  # other tasks (the Lease renewal) ran during the pass
