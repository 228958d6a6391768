"""The controller's RBAC is exactly the intended least privilege, the approver RBAC names this
issuer's signers, and the helpers the RBAC-minimality e2e relies on are faithful."""

from __future__ import annotations

import pytest

from tests.manifests.rbac import (
    Permission,
    ServiceAccount,
    controller_permissions,
    controller_rbac,
    permissions_of,
    rbac_objects,
)
from tests.manifests.render import NAMESPACE, OVERLAYS, Object, controller_deployment, one, overlay

GROUP = "zerossl.issuer.dev"
CACHED = ("list", "watch")  # informers; nothing is read around the caches
READ = ("get", *CACHED)  # Secrets: metadata cached, values read on demand
ROUTING = ("get", "create", "update", "delete")  # validation routes, read back before a change
CERT_MANAGER = ServiceAccount("cert-manager", "cert-manager")


def _grants(
    scope: str | None, group: str, resources: tuple[str, ...], verbs: tuple[str, ...]
) -> set[Permission]:
    return {Permission(scope, group, r, v) for r in resources for v in verbs}


def intended(lease: str) -> set[Permission]:
    """The controller's privileges, per verb: what it reads, and the few writes it makes."""
    return (
        _grants(None, "cert-manager.io", ("certificaterequests",), CACHED)
        | _grants(None, "cert-manager.io", ("certificaterequests/status",), ("patch",))
        | _grants(None, GROUP, ("zerosslissuers", "zerosslclusterissuers"), CACHED)
        | _grants(
            None, GROUP, ("zerosslissuers/status", "zerosslclusterissuers/status"), ("update",)
        )
        | _grants(None, GROUP, ("zerosslorders",), (*CACHED, "create", "patch", "delete"))
        | _grants(None, GROUP, ("zerosslorders/status",), ("update",))
        | _grants(None, "", ("secrets",), READ)
        | _grants(None, "events.k8s.io", ("events",), ("create", "patch"))
        | _grants(NAMESPACE, "networking.k8s.io", ("ingresses",), ROUTING)
        | _grants(NAMESPACE, "gateway.networking.k8s.io", ("httproutes",), ROUTING)
        | _grants(
            None, "externaldns.k8s.io", ("dnsendpoints",), ("get", "create", "update", "delete")
        )
        | {Permission(NAMESPACE, "coordination.k8s.io", "leases", "create")}
        | {
            Permission(NAMESPACE, "coordination.k8s.io", "leases", v, lease)
            for v in ("get", "update", "watch")
        }
    )


def _lease_name(name: str) -> str:
    container = controller_deployment(overlay(name))["spec"]["template"]["spec"]["containers"][0]
    return next(
        str(e["value"]) for e in container["env"] if e["name"] == "ZEROSSL_ISSUER_LEASE_NAME"
    )


@pytest.mark.parametrize("name", OVERLAYS)
def test_controller_gets_exactly_the_intended_permissions(name: str) -> None:
    granted = controller_permissions(overlay(name))
    expected = intended(_lease_name(name))
    assert sorted(map(str, granted - expected)) == [], "granted but not intended"
    assert sorted(map(str, expected - granted)) == [], "intended but not granted"


def test_no_wildcards_and_no_secret_writes() -> None:
    rules = [
        rule
        for obj in overlay("ha")
        if obj["kind"] in {"ClusterRole", "Role"}
        for rule in obj["rules"]
    ]
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], rule
    granted = controller_permissions(overlay("ha"))
    assert {p.verb for p in granted if p.resource == "secrets"} == set(READ)
    assert not {p for p in granted if p.resource == "certificaterequests" and p.verb not in READ}


def test_cert_manager_may_approve_our_signers_only() -> None:
    objects = overlay("ha")
    role = one(objects, "ClusterRole", "cert-manager-controller-approve:zerossl-issuer-dev")
    binding = one(
        objects, "ClusterRoleBinding", "cert-manager-controller-approve:zerossl-issuer-dev"
    )
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "cert-manager", "namespace": "cert-manager"}
    ]
    assert permissions_of(objects, CERT_MANAGER) == {
        Permission(None, "cert-manager.io", "signers", "approve", f"{plural}.{GROUP}/*")
        for plural in ("zerosslissuers", "zerosslclusterissuers")
    }
    assert role["metadata"]["name"] == f"cert-manager-controller-approve:{GROUP.replace('.', '-')}"


def test_controller_rbac_collects_the_objects_to_load() -> None:
    rbac = controller_rbac("default")
    assert rbac.account == ServiceAccount(NAMESPACE, "zerossl-issuer")
    assert rbac.account.username == f"system:serviceaccount:{NAMESPACE}:zerossl-issuer"
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in rbac.objects)
    assert kinds == [
        ("ClusterRole", "zerossl-issuer-controller"),
        ("ClusterRoleBinding", "zerossl-issuer-controller"),
        ("Role", "zerossl-issuer-leader-election"),
        ("Role", "zerossl-issuer-solver-routing"),
        ("RoleBinding", "zerossl-issuer-leader-election"),
        ("RoleBinding", "zerossl-issuer-solver-routing"),
        ("ServiceAccount", "zerossl-issuer"),
    ]
    assert permissions_of(rbac.objects, rbac.account) == rbac.permissions


def test_rbac_objects_round_trip() -> None:
    rbac = controller_rbac("default")
    rebuilt = rbac_objects(rbac.permissions, rbac.account)
    assert permissions_of(rebuilt, rbac.account) == rbac.permissions
    assert {(o["kind"], o["metadata"].get("namespace")) for o in rebuilt} == {
        ("ClusterRole", None),
        ("ClusterRoleBinding", None),
        ("Role", NAMESPACE),
        ("RoleBinding", NAMESPACE),
    }
    assert permissions_of(rebuilt, CERT_MANAGER) == frozenset()


def test_each_variant_lacks_exactly_one_permission() -> None:
    rbac = controller_rbac("default")
    variants = list(rbac.each_without_one())
    removed_each = [removed for removed, _ in variants]
    assert len(removed_each) == len(set(removed_each)) == len(rbac.permissions)
    assert set(removed_each) == rbac.permissions
    for removed, objects in variants:
        assert permissions_of(objects, rbac.account) == rbac.permissions - {removed}
    with pytest.raises(KeyError):
        rbac.without(Permission(None, "", "pods", "create"))


def test_permission_reads_like_a_sentence() -> None:
    lease = Permission(NAMESPACE, "coordination.k8s.io", "leases", "update", "zerossl-issuer")
    assert str(lease) == f"update leases.coordination.k8s.io/zerossl-issuer (namespace {NAMESPACE})"
    assert str(Permission(None, "", "secrets", "get")) == "get secrets (cluster-wide)"


def _binding(kind: str, role_kind: str, subject_ns: str, namespace: str | None = None) -> Object:
    meta: Object = {"name": "b"} if namespace is None else {"name": "b", "namespace": namespace}
    return {
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": subject_ns}],
    }


READ_PODS: Object = {
    "kind": "ClusterRole",
    "metadata": {"name": "r"},
    "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
}


@pytest.mark.parametrize(
    ("binding", "scope"),
    [
        (_binding("ClusterRoleBinding", "ClusterRole", "ns"), None),
        (_binding("RoleBinding", "ClusterRole", "ns", namespace="other"), "other"),
    ],
    ids=["cluster-wide", "cluster-role-in-one-namespace"],
)
def test_bindings_scope_their_grants(binding: Object, scope: str | None) -> None:
    granted = permissions_of([READ_PODS, binding], ServiceAccount("ns", "sa"))
    assert granted == {Permission(scope, "", "pods", verb) for verb in ("get", "list")}


def test_only_the_bound_account_gains() -> None:
    objects = [READ_PODS, _binding("ClusterRoleBinding", "ClusterRole", "ns")]
    assert permissions_of(objects, ServiceAccount("elsewhere", "sa")) == frozenset()
    assert permissions_of(objects, ServiceAccount("ns", "other")) == frozenset()
