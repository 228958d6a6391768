"""Bearer-token authentication and RBAC authorization from stored Roles and bindings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from controller.sandbox.kube import KubeAPIServer
from tests.support import require_binary

from .conftest import Raw, started
from .test_kubectl import Kubectl

RBAC = "/apis/rbac.authorization.k8s.io/v1"
DATA = Path(__file__).parent / "data"
SA = "system:serviceaccount:apps:ctl"


@pytest.fixture
async def rbac() -> AsyncIterator[tuple[KubeAPIServer, Raw, Raw]]:
    """(server with authorization on, admin client, client for service account apps/ctl)."""
    async with started(authorization=True) as (api, admin):
        api.create_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
        token = api.add_service_account("apps", "ctl")
        yield api, admin, admin.as_token(token)


def role(
    kind: str, name: str, rules: list[dict[str, Any]], namespace: str | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "rules": rules,
    }


def binding(kind: str, name: str, role_kind: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": "ctl", "namespace": "apps"}],
    }


async def test_forbidden_status_names_everything(rbac: tuple[KubeAPIServer, Raw, Raw]) -> None:
    _, _, sa = rbac
    status, body = await sa.call("GET", "/api/v1/namespaces/apps/secrets/s")
    assert status == 403
    assert body["reason"] == "Forbidden"
    assert body["message"] == (
        f'secrets "s" is forbidden: User "{SA}" cannot get resource "secrets" in API group "" '
        'in the namespace "apps"'
    )
    status, body = await sa.call("GET", "/apis/coordination.k8s.io/v1/leases")
    assert status == 403
    assert (
        'cannot list resource "leases" in API group "coordination.k8s.io" at the cluster '
        "scope" in body["message"]
    )


async def test_role_binding_grants_in_its_namespace_only(
    rbac: tuple[KubeAPIServer, Raw, Raw],
) -> None:
    api, _, sa = rbac
    api.create_object(
        role(
            "Role",
            "secrets-reader",
            [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}],
            "apps",
        )
    )
    api.create_object(binding("RoleBinding", "secrets-reader", "Role", "apps"))
    status, _ = await sa.call("GET", "/api/v1/namespaces/apps/secrets")
    assert status == 200
    status, _ = await sa.call("GET", "/api/v1/namespaces/default/secrets")
    assert status == 403
    status, _ = await sa.call(
        "POST", "/api/v1/namespaces/apps/secrets", {"metadata": {"name": "x"}}
    )
    assert status == 403
    events = await sa.watch("/api/v1/namespaces/apps/secrets", {"timeoutSeconds": "1"})
    assert events == []


async def test_subresources_resource_names_and_wildcards(
    rbac: tuple[KubeAPIServer, Raw, Raw],
) -> None:
    api, admin, sa = rbac
    api.register_crds([DATA / "widgets.yaml"])
    await admin.call(
        "POST",
        "/apis/example.com/v1/namespaces/apps/widgets",
        {"metadata": {"name": "w"}, "spec": {"color": "red"}},
    )
    api.create_object(
        role(
            "ClusterRole",
            "widget-status",
            [
                {"apiGroups": ["example.com"], "resources": ["widgets/status"], "verbs": ["patch"]},
                {
                    "apiGroups": ["*"],
                    "resources": ["configmaps"],
                    "resourceNames": ["only-me"],
                    "verbs": ["*"],
                },
            ],
        )
    )
    api.create_object(binding("ClusterRoleBinding", "widget-status", "ClusterRole"))
    patch = {"status": {"phase": "x"}}
    merge = "application/merge-patch+json"
    status, _ = await sa.call(
        "PATCH", "/apis/example.com/v1/namespaces/apps/widgets/w/status", patch, content_type=merge
    )
    assert status == 200
    status, _ = await sa.call(
        "PATCH", "/apis/example.com/v1/namespaces/apps/widgets/w", patch, content_type=merge
    )
    assert status == 403
    status, _ = await sa.call("GET", "/api/v1/namespaces/apps/configmaps/only-me")
    assert status == 404, "allowed by resourceNames, then not found"
    status, _ = await sa.call("GET", "/api/v1/namespaces/apps/configmaps/other")
    assert status == 403
    status, _ = await sa.call("GET", "/api/v1/namespaces/apps/configmaps")
    assert status == 403, "resourceNames never allow list"
    for query in ({}, {"watch": "true", "timeoutSeconds": "1"}):
        only_me = {**query, "fieldSelector": "metadata.name=only-me"}
        status, _ = await sa.call("GET", "/api/v1/namespaces/apps/configmaps", params=only_me)
        assert status == 200, "a field selector on the name makes it a request about that name"
        for selector in ("metadata.name=other", "metadata.name!=only-me", "metadata.name=a/b"):
            status, _ = await sa.call(
                "GET",
                "/api/v1/namespaces/apps/configmaps",
                params={**query, "fieldSelector": selector},
            )
            assert status == 403, selector


async def test_authentication_and_non_resource_urls(rbac: tuple[KubeAPIServer, Raw, Raw]) -> None:
    api, admin, sa = rbac
    status, _ = await sa.call("GET", "/version")
    assert status == 200, "system:discovery is bound to system:authenticated"
    status, _ = await sa.call("GET", "/apis")
    assert status == 200
    status, body = await sa.call("GET", "/metrics")
    assert status == 403
    assert body["message"] == f'forbidden: User "{SA}" cannot get path "/metrics"'
    status, _ = await admin.as_token("not-a-token").call("GET", "/api/v1/namespaces")
    assert status == 401
    status, _ = await admin.as_token("").call("GET", "/api/v1/namespaces")
    assert status == 401
    status, _ = await admin.as_token("").call("GET", "/healthz")
    assert status == 200
    status, _ = await sa.call("GET", "/_sandbox/requests")
    assert status == 403
    user_token = api.add_user("jane", ["ops"])
    api.create_object(
        role(
            "ClusterRole",
            "ops",
            [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}],
        )
    )
    api.create_object(
        {
            **binding("ClusterRoleBinding", "ops", "ClusterRole"),
            "subjects": [{"kind": "Group", "name": "ops", "apiGroup": "rbac.authorization.k8s.io"}],
        }
    )
    status, _ = await admin.as_token(user_token).call("GET", "/api/v1/namespaces")
    assert status == 200


async def test_kubectl_under_a_service_account(
    rbac: tuple[KubeAPIServer, Raw, Raw], tmp_path: Path
) -> None:
    api, _, _ = rbac
    kubectl = Kubectl(
        require_binary("kubectl"),
        api.write_kubeconfig(tmp_path / "kc", user=SA),
        tmp_path / "cache",
    )
    code, _, err = await kubectl.run("get", "secrets", "-n", "apps", check=False)
    assert code == 1
    assert f'User "{SA}" cannot list resource "secrets"' in err


async def test_the_project_rbac_manifests_are_enforced(tmp_path: Path) -> None:
    repo = Path(__file__).parents[4]
    async with started(authorization=True) as (api, admin):
        api.load_manifests(
            [
                repo / "controller/sandbox/crds",
                repo / "manifests/crds",
                repo / "manifests/base/namespace.yaml",
                repo / "manifests/rbac",
            ]
        )
        ctl = admin.as_token(api.add_service_account("zerossl-issuer-system", "zerossl-issuer"))
        status, _ = await ctl.call("GET", "/apis/cert-manager.io/v1/certificaterequests")
        assert status == 200
        status, _ = await ctl.call(
            "PATCH",
            "/apis/cert-manager.io/v1/namespaces/default/certificaterequests/x",
            {"spec": {}},
            content_type="application/merge-patch+json",
        )
        assert status == 403, "the controller never writes a request's spec"
        status, _ = await ctl.call(
            "PATCH",
            "/apis/cert-manager.io/v1/namespaces/default/certificaterequests/x/status",
            {"status": {}},
            content_type="application/merge-patch+json",
        )
        assert status == 404, "status patches are allowed (and the request does not exist)"
        status, _ = await ctl.call("DELETE", "/api/v1/namespaces/default/secrets/x")
        assert status == 403
