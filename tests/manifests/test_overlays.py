"""Every overlay builds, and what it builds hangs together (selectors, ports, namespaces)."""

from __future__ import annotations

import tomllib

import pytest

from controller import config
from tests.manifests.render import (
    MANIFESTS,
    NAMESPACE,
    OVERLAYS,
    ROOT,
    Object,
    controller_deployment,
    kustomize,
    of_kind,
    one,
    overlay,
)

CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}


def _ids(objects: list[Object]) -> set[tuple[str, str]]:
    return {(o["kind"], o["metadata"]["name"]) for o in objects}


def _pod(objects: list[Object]) -> Object:
    template: Object = controller_deployment(objects)["spec"]["template"]
    return template


def _env(objects: list[Object]) -> dict[str, str]:
    container = _pod(objects)["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def _port_of(address: str) -> int:
    return int(address.rpartition(":")[2])


@pytest.mark.parametrize("name", OVERLAYS)
def test_overlay_contains_the_whole_installation(name: str) -> None:
    objects = overlay(name)
    crds = _ids(kustomize(MANIFESTS / "crds"))
    assert crds, "manifests/crds builds no CRD"
    expected = crds | {
        ("Namespace", NAMESPACE),
        ("ServiceAccount", "zerossl-issuer"),
        ("ClusterRole", "zerossl-issuer-controller"),
        ("ClusterRoleBinding", "zerossl-issuer-controller"),
        ("Role", "zerossl-issuer-leader-election"),
        ("RoleBinding", "zerossl-issuer-leader-election"),
        ("ClusterRole", "cert-manager-controller-approve:zerossl-issuer-dev"),
        ("ClusterRoleBinding", "cert-manager-controller-approve:zerossl-issuer-dev"),
        ("Deployment", "zerossl-issuer"),
        ("PodDisruptionBudget", "zerossl-issuer"),
        ("Service", "zerossl-issuer-metrics"),
        ("Service", "zerossl-issuer-solver"),
        ("NetworkPolicy", "zerossl-issuer"),
    }
    assert expected <= _ids(objects)
    assert len(_ids(objects)) == len(objects), "an object is rendered twice"


@pytest.mark.parametrize("name", ["default", "ha"])
def test_base_objects_live_in_the_controller_namespace(name: str) -> None:
    for obj in overlay(name):
        namespace = obj["metadata"].get("namespace")
        if obj["kind"] in CLUSTER_SCOPED:
            assert namespace is None, obj["metadata"]["name"]
        else:
            assert namespace == NAMESPACE, f"{obj['kind']} {obj['metadata']['name']}"


@pytest.mark.parametrize(("name", "replicas"), [("default", 1), ("ha", 3), ("monitoring", 3)])
def test_replicas(name: str, replicas: int) -> None:
    assert controller_deployment(overlay(name))["spec"]["replicas"] == replicas


def test_base_runs_two_replicas_with_election() -> None:
    objects = kustomize(MANIFESTS / "base")
    assert controller_deployment(objects)["spec"]["replicas"] >= 2
    assert _env(objects)["ZEROSSL_ISSUER_LEADER_ELECT"] == "true"


def test_ha_puts_one_replica_per_node() -> None:
    spec = _pod(overlay("ha"))["spec"]
    required = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert [term["topologyKey"] for term in required] == ["kubernetes.io/hostname"]
    assert (
        "preferredDuringSchedulingIgnoredDuringExecution" not in spec["affinity"]["podAntiAffinity"]
    )
    spread = {(c["topologyKey"], c["whenUnsatisfiable"]) for c in spec["topologySpreadConstraints"]}
    assert spread == {
        ("kubernetes.io/hostname", "DoNotSchedule"),
        ("topology.kubernetes.io/zone", "ScheduleAnyway"),
    }


def test_monitoring_overlay_is_ha_plus_the_monitoring_stack() -> None:
    monitoring = _ids(kustomize(MANIFESTS / "monitoring"))
    assert {"ServiceMonitor", "PrometheusRule", "ConfigMap"} <= {kind for kind, _ in monitoring}
    assert _ids(overlay("monitoring")) == _ids(overlay("ha")) | monitoring


@pytest.mark.parametrize("name", OVERLAYS)
def test_selectors_match_the_controller_pods(name: str) -> None:
    objects = overlay(name)
    labels = _pod(objects)["metadata"]["labels"]
    deployment = controller_deployment(objects)
    selectors = [
        deployment["spec"]["selector"]["matchLabels"],
        one(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        one(objects, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"],
        *(s["spec"]["selector"] for s in of_kind(objects, "Service")),
    ]
    for selector in selectors:
        assert selector.items() <= labels.items()


@pytest.mark.parametrize("name", OVERLAYS)
def test_named_ports_agree_with_the_listen_addresses(name: str) -> None:
    objects = overlay(name)
    container = _pod(objects)["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = _env(objects)
    assert ports == {
        "metrics": _port_of(env["ZEROSSL_ISSUER_METRICS_ADDR"]),
        "probes": _port_of(env["ZEROSSL_ISSUER_PROBE_ADDR"]),
        "solver": _port_of(env["ZEROSSL_ISSUER_SOLVER_ADDR"]),
    }
    assert (ports["metrics"], ports["probes"], ports["solver"]) == (8080, 8081, 8089)
    for service in of_kind(objects, "Service"):
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports
    policy_ports = {p["port"] for p in one(objects, "NetworkPolicy")["spec"]["ingress"][0]["ports"]}
    assert policy_ports == {"metrics", "solver"}


@pytest.mark.parametrize("name", OVERLAYS)
def test_probes(name: str) -> None:
    container = _pod(overlay(name))["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probes"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "probes"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "probes"}


@pytest.mark.parametrize("name", OVERLAYS)
def test_resources_and_graceful_stop(name: str) -> None:
    objects = overlay(name)
    spec = _pod(objects)["spec"]
    resources = spec["containers"][0]["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert {"cpu", "memory"} <= resources["limits"].keys()
    settings = config.load(_env(objects) | {"ZEROSSL_ISSUER_CLUSTER_RESOURCE_NAMESPACE": NAMESPACE})
    # A graceful stop releases the Lease with one API call bounded by the Kubernetes timeout.
    assert spec["terminationGracePeriodSeconds"] > settings.kube_timeout


@pytest.mark.parametrize("name", OVERLAYS)
def test_downward_api_identity(name: str) -> None:
    container = _pod(overlay(name))["spec"]["containers"][0]
    from_field = {
        e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
        for e in container["env"]
        if "valueFrom" in e
    }
    assert from_field == {
        "ZEROSSL_ISSUER_POD_NAME": "metadata.name",
        "ZEROSSL_ISSUER_NAMESPACE": "metadata.namespace",
    }
    names = [e["name"] for e in container["env"]]
    # $(VAR) expands only variables defined earlier in the list.
    assert names.index("ZEROSSL_ISSUER_NAMESPACE") < names.index(
        "ZEROSSL_ISSUER_CLUSTER_RESOURCE_NAMESPACE"
    )


@pytest.mark.parametrize("name", OVERLAYS)
def test_image_tag_is_the_package_version(name: str) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    container = _pod(overlay(name))["spec"]["containers"][0]
    assert container["image"] == f"zerossl-issuer:{version}"


def test_service_monitor_scrapes_the_metrics_service() -> None:
    objects = overlay("monitoring")
    monitor = one(objects, "ServiceMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    selected = [
        s
        for s in of_kind(objects, "Service")
        if selector.items() <= s["metadata"]["labels"].items()
    ]
    assert [s["metadata"]["name"] for s in selected] == ["zerossl-issuer-metrics"]
    namespaces = monitor["spec"].get("namespaceSelector", {}).get("matchNames")
    assert namespaces in (None, [NAMESPACE])
    assert monitor["metadata"]["namespace"] == NAMESPACE or namespaces == [NAMESPACE]
    service_ports = {p["name"] for p in selected[0]["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= service_ports
