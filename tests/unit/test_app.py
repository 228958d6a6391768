"""Controller wiring that needs no API server: who the elector talks through, and handlers."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from controller import app
from controller.app import Controller
from controller.config import load
from controller.kube.cached import CachedObject
from controller.kube.client import KubeClient
from controller.kube.informer import Informer
from controller.kube.kubeconfig import ClusterConfig

GROUP = "zerossl.issuer.dev"


def _client() -> KubeClient:
    return KubeClient(ClusterConfig("http://127.0.0.1:9"))


def _added(informer: Informer, obj: dict[str, object]) -> None:
    """Delivers an add event to the informer's handlers, as its dispatch does."""
    for handler in informer._handlers:
        handler.on_add(CachedObject.encode(obj))


def test_the_elector_has_a_client_of_its_own() -> None:
    kube, lease = _client(), _client()
    controller = Controller(load({}, []), kube, lease_client=lease)
    assert controller.elector is not None
    assert controller.elector.client is lease


@pytest.fixture
def _gc_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("_gc_restored")
def test_the_controller_runs_with_a_settled_heap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start-up's objects are frozen and the collector runs less often before the loop starts:
    with Python's thresholds collection cost 4.5 % of the controller's CPU."""
    seen: list[tuple[tuple[int, ...], int]] = []

    async def main(settings: object) -> int:
        seen.append((gc.get_threshold(), gc.get_freeze_count()))
        return 0

    class Logs:
        def close(self) -> None:
            pass

    monkeypatch.setattr(app, "_main", main)
    monkeypatch.setattr(app, "configure_logging", lambda level, fmt: Logs())
    gc.unfreeze()
    assert app.run(load({}, [])) == 0
    [(thresholds, frozen)] = seen
    assert thresholds == app.GC_THRESHOLDS
    assert frozen > 0


def test_without_leader_election_there_is_no_elector() -> None:
    settings = load({"ZEROSSL_ISSUER_LEADER_ELECT": "false"}, [])
    assert Controller(settings, _client()).elector is None


APPROVED = {"type": "Approved", "status": "True", "reason": "cert-manager.io"}
ISSUED = {"type": "Ready", "status": "True", "reason": "Issued"}


def _request(name: str, *conditions: dict[str, str], group: str = GROUP) -> dict[str, object]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": "1"},
        "spec": {"issuerRef": {"group": group, "kind": "ZeroSSLIssuer", "name": "i"}},
        "status": {"conditions": list(conditions)},
    }


async def test_standby_replicas_queue_nothing_until_they_lead() -> None:
    controller = Controller(load({}, []), _client())
    requests = controller.caches.requests
    _added(requests, _request("r", APPROVED))
    assert len(controller.controllers.request_queue) == 0
    controller.controllers.watches.leading = True
    _added(requests, _request("r", APPROVED))
    _added(requests, _request("other", APPROVED, group="cert-manager.io"))
    assert len(controller.controllers.request_queue) == 1


async def test_a_request_wakes_only_with_something_to_decide() -> None:
    """Waiting for approval, or finished (the echo of its own Issued patch included), a request
    decides nothing whatever its issuer and order: such an event wakes nothing."""
    controller = Controller(load({}, []), _client())
    controller.controllers.watches.leading = True
    requests, queue = controller.caches.requests, controller.controllers.request_queue
    _added(requests, _request("waiting"))
    _added(requests, _request("issued", APPROVED, ISSUED))
    assert len(queue) == 0
    _added(requests, _request("approved", APPROVED))
    _added(requests, _request("denied", {"type": "Denied", "status": "True", "reason": "x"}))
    assert len(queue) == 2


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
    controller.controllers.watches.leading = True
    secrets = controller.caches.secrets
    _added(secrets, {"metadata": {"name": "tsig", "namespace": "sys"}})
    assert len(controller.controllers.order_queue) == 0  # a namespaced issuer reads its own
    _added(secrets, {"metadata": {"name": "tsig", "namespace": "team"}})
    assert len(controller.controllers.order_queue) == 1


async def test_a_changed_solver_secret_re_checks_the_issuers_that_read_it() -> None:
    controller = Controller(load({"ZEROSSL_ISSUER_NAMESPACE": "sys"}, []), _client())
    issuer = {
        "apiVersion": "zerossl.issuer.dev/v1alpha1",
        "kind": "ZeroSSLClusterIssuer",
        "metadata": {"name": "shared", "resourceVersion": "1"},
        "spec": {
            "apiKeySecretRef": {"name": "zerossl-api-key"},
            "solvers": [{"dns": {"cloudflare": {"apiTokenSecretRef": {"name": "cf", "key": "t"}}}}],
        },
    }
    controller.caches.cluster_issuers.store.put(issuer)
    controller.controllers.watches.leading = True
    secrets = controller.caches.secrets
    _added(secrets, {"metadata": {"name": "cf", "namespace": "team"}})
    assert len(controller.controllers.issuer_queue) == 0  # a cluster issuer reads its namespace
    _added(secrets, {"metadata": {"name": "cf", "namespace": "sys"}})
    assert len(controller.controllers.issuer_queue) == 1


async def test_becoming_leader_queues_everything_without_holding_the_loop() -> None:
    controller = Controller(load({}, []), _client())
    for i in range(1000):
        controller.caches.requests.store.put(_request(f"r{i}", APPROVED))
    for i in range(100):  # finished: nothing to decide, nothing queued
        controller.caches.requests.store.put(_request(f"done{i}", APPROVED, ISSUED))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    controller.controllers.watches.leading = True
    await controller.controllers.watches.resync()
    task.cancel()
    assert len(controller.controllers.request_queue) == 1000
    assert ticks >= 3  # other tasks (the Lease renewal) ran during the pass
