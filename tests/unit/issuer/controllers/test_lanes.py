"""Finished work first: the wired queues hand out what finishes a certificate (an order past
creation, a request whose order finished) before what starts one, whatever was added first."""

from __future__ import annotations

from typing import Any

from controller.clock import FakeClock
from controller.config import Settings
from controller.issuer.controllers.wiring import IssuerControllers
from controller.kube.client import KubeClient
from controller.kube.kubeconfig import ClusterConfig
from tests.unit.issuer.factories import NOW, order_object, order_ready


def _controllers() -> IssuerControllers:
    kube = KubeClient(ClusterConfig("http://127.0.0.1:9"))
    return IssuerControllers(kube, Settings(), FakeClock(NOW))


def _order(name: str, status: dict[str, Any] | None = None) -> dict[str, Any]:
    obj = order_object()
    obj["metadata"].update(name=name, uid=f"uid-{name}")
    obj["status"] = status or {}
    return obj


async def test_orders_past_creation_go_first() -> None:
    controllers = _controllers()
    store = controllers.caches.orders.store
    store.put(_order("new"))
    store.put(_order("started", {"certificateID": "c1"}))
    queue = controllers.order_queue
    for key in ("default/new", "default/unknown", "default/started"):
        queue.add(key)
    assert [await queue.get() for _ in range(3)] == [
        "default/started",
        "default/new",
        "default/unknown",
    ]


async def test_requests_whose_order_finished_go_first() -> None:
    controllers = _controllers()
    store = controllers.caches.orders.store
    store.put(_order("working", {"certificateID": "c1", "conditions": [order_ready("Validating")]}))
    store.put(
        _order(
            "issued", {"certificateID": "c2", "conditions": [order_ready("Issued", status="True")]}
        )
    )
    store.put(_order("failed", {"conditions": [order_ready("Failed")]}))
    queue = controllers.request_queue
    for key in ("default/none", "default/working", "default/issued", "default/failed"):
        queue.add(key)
    assert [await queue.get() for _ in range(4)] == [
        "default/issued",
        "default/failed",
        "default/none",
        "default/working",
    ]
