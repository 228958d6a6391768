"""HTTP validation routing against the emulated API server: the Ingress or HTTPRoute of an
order carries exactly one route per presented name to the solver Service, and goes with the
last name; API refusals become RoutingErrors that say whether retrying can help."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from controller.issuer.solvers.http import (
    DOMAINS_ANNOTATION,
    HTTPROUTES,
    LEGACY_CLASS_ANNOTATION,
    ORDER_ANNOTATION,
    ORDER_NAMESPACE_LABEL,
    ORDER_UID_LABEL,
    HttpRouting,
    OrderRef,
    RoutingError,
)
from controller.kube.client import KubeClient
from controller.kube.errors import NotFound
from controller.kube.resource import INGRESSES, Resource
from controller.observability import metrics
from controller.sandbox.kube import KubeAPIServer
from tests.integration.issuer.harness import NAMESPACE

pytestmark = pytest.mark.integration

PATH = "/.well-known/pki-validation/0F70760EEC50DF6725F9592F26D7B0F3.txt"
ORDER: dict[str, Any] = {
    "apiVersion": "zerossl.issuer.dev/v1alpha1",
    "kind": "ZeroSSLOrder",
    "metadata": {"namespace": "shop", "name": "web-tls-1", "uid": "0b7c1c9e-1111-4d3e-9c39-1"},
}
INGRESS = {
    "ingress": {
        "ingressClassName": "nginx",
        "labels": {"team": "web"},
        "annotations": {"nginx.ingress.kubernetes.io/ssl-redirect": "false"},
    }
}
ROUTE = {
    "gatewayHTTPRoute": {
        "parentRefs": [{"name": "public", "namespace": "gateway-system", "sectionName": "http"}],
        "labels": {"team": "web"},
    }
}
SERVICE_BACKEND = {"service": {"name": "zerossl-issuer-solver", "port": {"number": 80}}}


def ordered(uid: str = "0b7c1c9e-1111-4d3e-9c39-1") -> dict[str, Any]:
    return {**ORDER, "metadata": {**ORDER["metadata"], "uid": uid}}


async def get(kube: KubeClient, res: Resource) -> dict[str, Any] | None:
    try:
        return await kube.get(res, OrderRef.of(ORDER).object_name, NAMESPACE)
    except NotFound:
        return None


def paths(rule: Mapping[str, Any]) -> list[tuple[str, str, object]]:
    return [(p["path"], p["pathType"], p["backend"]) for p in rule["http"]["paths"]]


async def test_ingress_routes_each_presented_name_and_goes_with_the_last(
    kube: KubeClient,
) -> None:
    routing = HttpRouting(kube, namespace=NAMESPACE)
    for domain in ("shop.example.com", "www.shop.example.com", "192.0.2.7"):
        await routing.present(ORDER, domain, PATH, INGRESS)

    ingress = await get(kube, INGRESSES)
    assert ingress is not None
    meta = ingress["metadata"]
    assert meta["name"].startswith("zerossl-solver-")
    assert meta["labels"] == {
        "team": "web",
        "app.kubernetes.io/managed-by": "zerossl-issuer",
        ORDER_NAMESPACE_LABEL: "shop",
        ORDER_UID_LABEL: ORDER["metadata"]["uid"],
    }
    assert meta["annotations"][ORDER_ANNOTATION] == "shop/web-tls-1"
    assert meta["annotations"]["nginx.ingress.kubernetes.io/ssl-redirect"] == "false"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    rules = ingress["spec"]["rules"]
    assert [r.get("host") for r in rules] == ["shop.example.com", "www.shop.example.com", None]
    for rule in rules:
        assert paths(rule) == [(PATH, "Exact", SERVICE_BACKEND)]

    version = meta["resourceVersion"]
    await routing.present(ORDER, "shop.example.com", PATH, INGRESS)  # idempotent: no write
    again = await get(kube, INGRESSES)
    assert again is not None
    assert again["metadata"]["resourceVersion"] == version

    await routing.cleanup(ORDER, "192.0.2.7", PATH, INGRESS)
    await routing.cleanup(ORDER, "shop.example.com", PATH, INGRESS)
    left = await get(kube, INGRESSES)
    assert left is not None
    assert [r.get("host") for r in left["spec"]["rules"]] == ["www.shop.example.com"]
    assert left["metadata"]["annotations"][DOMAINS_ANNOTATION] == "www.shop.example.com"

    await routing.cleanup(ORDER, "www.shop.example.com", PATH, INGRESS)
    assert await get(kube, INGRESSES) is None
    await routing.cleanup(ORDER, "www.shop.example.com", PATH, INGRESS)  # idempotent


async def test_ingress_takes_the_legacy_class_service_and_path_type(kube: KubeClient) -> None:
    spec = {
        "ingress": {
            "class": "traefik",
            "serviceName": "edge-solver",
            "servicePort": 8089,
            "pathType": "ImplementationSpecific",
        }
    }
    await HttpRouting(kube, namespace=NAMESPACE).present(ORDER, "shop.example.com", PATH, spec)

    ingress = await get(kube, INGRESSES)
    assert ingress is not None
    assert "ingressClassName" not in ingress["spec"]
    assert ingress["metadata"]["annotations"][LEGACY_CLASS_ANNOTATION] == "traefik"
    backend = {"service": {"name": "edge-solver", "port": {"number": 8089}}}
    assert paths(ingress["spec"]["rules"][0]) == [(PATH, "ImplementationSpecific", backend)]


async def test_httproute_names_dns_hosts_only_and_goes_with_the_last(kube: KubeClient) -> None:
    routing = HttpRouting(kube, namespace=NAMESPACE)
    await routing.present(ORDER, "shop.example.com", PATH, ROUTE)
    await routing.present(ORDER, "api.example.com", PATH, ROUTE)

    route = await get(kube, HTTPROUTES)
    assert route is not None
    assert route["metadata"]["labels"]["team"] == "web"
    assert route["spec"]["hostnames"] == ["shop.example.com", "api.example.com"]
    assert route["spec"]["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "public",
            "namespace": "gateway-system",
            "sectionName": "http",
        }
    ]
    assert route["spec"]["rules"] == [
        {
            "matches": [{"path": {"type": "Exact", "value": PATH}}],
            "backendRefs": [
                {
                    "group": "",
                    "kind": "Service",
                    "name": "zerossl-issuer-solver",
                    "port": 80,
                    "weight": 1,
                }
            ],
        }
    ]

    await routing.present(ORDER, "192.0.2.7", PATH, ROUTE)
    with_ip = await get(kube, HTTPROUTES)
    assert with_ip is not None
    assert "hostnames" not in with_ip["spec"]  # HTTPRoute hostnames cannot be IPs

    for domain in ("shop.example.com", "api.example.com", "192.0.2.7"):
        await routing.cleanup(ORDER, domain, PATH, ROUTE)
    assert await get(kube, HTTPROUTES) is None


async def test_httproute_over_sixteen_names_matches_the_path_on_any_host(
    kube: KubeClient,
) -> None:
    routing = HttpRouting(kube, namespace=NAMESPACE)
    names = [f"n{i}.example.com" for i in range(17)]
    for domain in names[:16]:
        await routing.present(ORDER, domain, PATH, ROUTE)
    sixteen = await get(kube, HTTPROUTES)
    assert sixteen is not None
    assert sixteen["spec"]["hostnames"] == names[:16]

    await routing.present(ORDER, names[16], PATH, ROUTE)  # the CRD allows 16 hostnames

    route = await get(kube, HTTPROUTES)
    assert route is not None
    assert "hostnames" not in route["spec"]
    assert route["metadata"]["annotations"][DOMAINS_ANNOTATION] == ",".join(names)


async def test_an_object_of_an_earlier_order_of_the_same_name_is_taken_over(
    kube: KubeClient,
) -> None:
    routing = HttpRouting(kube, namespace=NAMESPACE)
    await routing.present(ordered("uid-of-the-old-order"), "old.example.com", PATH, INGRESS)

    await routing.present(ordered(), "shop.example.com", PATH, INGRESS)

    ingress = await get(kube, INGRESSES)
    assert ingress is not None
    assert ingress["metadata"]["labels"][ORDER_UID_LABEL] == ORDER["metadata"]["uid"]
    assert [r["host"] for r in ingress["spec"]["rules"]] == ["shop.example.com"]


async def test_routing_none_publishes_nothing(kube: KubeClient) -> None:
    routing = HttpRouting(kube, namespace=NAMESPACE)
    await routing.present(ORDER, "shop.example.com", PATH, {"none": {}})
    await routing.cleanup(ORDER, "shop.example.com", PATH, {"none": {}})

    assert await get(kube, INGRESSES) is None
    assert await get(kube, HTTPROUTES) is None


def operations(solver: str, operation: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "zerossl_issuer_solver_operations_total",
        {"solver": solver, "operation": operation, "outcome": outcome},
    )
    return value or 0.0


async def test_operations_are_counted_by_outcome(kube: KubeClient) -> None:
    routing = HttpRouting(kube, namespace=NAMESPACE)
    ok = operations("gatewayHTTPRoute", "present", "ok")
    invalid = operations("gatewayHTTPRoute", "present", "invalid_spec")

    await routing.present(ORDER, "shop.example.com", PATH, ROUTE)
    with pytest.raises(RoutingError):
        await routing.present(ORDER, "api.example.com", PATH, {"gatewayHTTPRoute": {}})

    assert operations("gatewayHTTPRoute", "present", "ok") == ok + 1
    assert operations("gatewayHTTPRoute", "present", "invalid_spec") == invalid + 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"gatewayHTTPRoute": {"parentRefs": []}}, "parentRefs must list at least one"),
        ({"gatewayHTTPRoute": {"parentRefs": [{"name": ""}]}}, "rejected the HTTPRoute"),
        ({"ingress": {"labels": {"team": 7}}}, "labels must map strings to strings"),
        ({"ingress": {}, "none": {}}, "exactly one of"),
    ],
    ids=["no-parents", "api-server-refuses", "bad-labels", "two-routings"],
)
async def test_an_unusable_spec_is_not_retryable(
    kube: KubeClient, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(RoutingError) as raised:
        await HttpRouting(kube, namespace=NAMESPACE).present(ORDER, "a.example.com", PATH, spec)

    assert raised.value.kind == "invalid_spec"
    assert not raised.value.retryable
    assert message in raised.value.message


async def test_missing_permissions_say_so_and_are_not_retryable(tmp_path: Path) -> None:
    async with KubeAPIServer(port=0, authorization=True) as guarded:
        guarded.add_user("nobody")
        path = guarded.write_kubeconfig(tmp_path / "kubeconfig", user="nobody")
        async with await KubeClient.from_kubeconfig(str(path), timeout=5.0) as kube:
            with pytest.raises(RoutingError) as raised:
                await HttpRouting(kube, namespace=NAMESPACE).present(
                    ORDER, "a.example.com", PATH, INGRESS
                )

    assert raised.value.kind == "refused"
    assert not raised.value.retryable
    assert "may not get an Ingress" in raised.value.message


async def test_a_missing_gateway_api_is_named(tmp_path: Path) -> None:
    async with KubeAPIServer(port=0) as bare:  # no HTTPRoute CRD
        path = bare.write_kubeconfig(tmp_path / "kubeconfig")
        async with await KubeClient.from_kubeconfig(str(path), timeout=5.0) as kube:
            with pytest.raises(RoutingError) as raised:
                await HttpRouting(kube, namespace=NAMESPACE).present(
                    ORDER, "a.example.com", PATH, ROUTE
                )

    assert raised.value.kind == "api_missing"
    assert not raised.value.retryable
    assert "gateway.networking.k8s.io/v1 API is not installed" in raised.value.message
