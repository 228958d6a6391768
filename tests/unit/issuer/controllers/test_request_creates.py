"""A request's ZeroSSLOrder is created once: the request reconciler runs again before the order
informer shows the order it created (the request's own Pending write wakes it, and the request
informer is often ahead of the order informer), and it must not create the order again."""

from __future__ import annotations

import copy
from typing import Any

from controller.clock import FakeClock
from controller.issuer.controllers.caches import Caches
from controller.issuer.controllers.created import EXPECTATION_TTL
from controller.issuer.controllers.fresh import FreshOrders
from controller.issuer.controllers.requests import RequestReconciler
from controller.issuer.controllers.watches import OwnWrites
from controller.kube.client import KubeClient
from controller.kube.errors import AlreadyExists
from controller.kube.kubeconfig import ClusterConfig
from controller.kube.worker import DONE, RequeueAfter
from tests.unit.issuer.factories import NOW, issuer_object, request_object

KEY = "default/www"


class Recorder:
    def record(self, *args: Any) -> None: ...


class ApiServer:
    """Requests land in their cache at once (server-side apply merges conditions by type);
    orders are created but their informer lags."""

    def __init__(self, caches: Caches) -> None:
        self.caches = caches
        self.orders: dict[str, dict[str, Any]] = {}
        self.creates = 0
        self.version = 10

    def _stamp(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        return obj

    async def create(self, res: Any, body: dict[str, Any], namespace: str) -> dict[str, Any]:
        self.creates += 1
        key = f"{namespace}/{body['metadata']['name']}"
        if key in self.orders:
            raise AlreadyExists(409, "AlreadyExists", f"zerosslorders {key} already exists")
        created = self._stamp(copy.deepcopy(body))
        created["metadata"]["uid"] = f"uid-order-{self.creates}"
        self.orders[key] = created
        return copy.deepcopy(created)

    async def patch(self, res: Any, name: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        stored = self.caches.requests.store.get(f"{body['metadata']['namespace']}/{name}")
        assert stored is not None
        status = {**stored.get("status", {}), **body["status"]}
        by_type = {c["type"]: c for c in stored["status"].get("conditions", [])}
        by_type.update({c["type"]: c for c in body["status"].get("conditions", [])})
        stored["status"] = {**status, "conditions": list(by_type.values())}  # listType=map
        written = self._stamp(stored)
        self.caches.requests.store.put(copy.deepcopy(written))
        return written

    def order_informer_catches_up(self) -> None:
        for order in self.orders.values():
            self.caches.orders.store.put(copy.deepcopy(order))


def _world() -> tuple[ApiServer, RequestReconciler, FakeClock]:
    caches = Caches(KubeClient(ClusterConfig("http://127.0.0.1:9")), "zerossl-issuer-system")
    caches.cluster_issuers.store.put(issuer_object())
    request = request_object()
    request["metadata"]["resourceVersion"] = "5"
    caches.requests.store.put(request)
    api, clock = ApiServer(caches), FakeClock(NOW)
    reconciler = RequestReconciler(
        api,  # type: ignore[arg-type]
        caches,
        Recorder(),  # type: ignore[arg-type]
        clock,
        FreshOrders(),
        writes=OwnWrites(),
    )
    return api, reconciler, clock


async def test_the_order_is_created_once_while_its_informer_lags() -> None:
    api, reconciler, _ = _world()
    assert await reconciler.reconcile(KEY) == DONE
    assert api.creates == 1
    # The request's Pending write wakes it; the order informer has not shown the order yet.
    woken = await reconciler.reconcile(KEY)
    assert api.creates == 1, "the order was created again (409 AlreadyExists)"
    assert isinstance(woken, RequeueAfter)  # looks again if the order never shows
    api.order_informer_catches_up()
    assert await reconciler.reconcile(KEY) == DONE
    assert api.creates == 1


async def test_an_order_that_never_shows_is_created_again_after_the_expectation_expires() -> None:
    api, reconciler, clock = _world()
    await reconciler.reconcile(KEY)
    api.orders.clear()  # deleted before its informer ever showed it
    clock.advance(EXPECTATION_TTL + 1)
    await reconciler.reconcile(KEY)
    assert api.creates == 2
    assert api.orders  # created again


async def test_an_order_found_existing_is_expected_too() -> None:
    api, reconciler, _ = _world()
    api.orders[KEY] = {"metadata": {"name": "www", "namespace": "default"}}  # another replica's
    await reconciler.reconcile(KEY)
    await reconciler.reconcile(KEY)
    assert api.creates == 1
