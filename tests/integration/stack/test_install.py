"""The stack without replicas: what it installs, RBAC as the controller sees it, both process
modes, and cleanup."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
from collections.abc import Awaitable
from pathlib import Path

import psutil
import pytest

from controller.sandbox.stack import Cluster, KubeAPI, KubeError, Stack, StackOptions
from tests.support import kubectl_for

pytestmark = pytest.mark.integration

CRDS = {
    ("zerossl.issuer.dev/v1alpha1", "ZeroSSLIssuer"),
    ("zerossl.issuer.dev/v1alpha1", "ZeroSSLClusterIssuer"),
    ("zerossl.issuer.dev/v1alpha1", "ZeroSSLOrder"),
    ("cert-manager.io/v1", "CertificateRequest"),
    ("cert-manager.io/v1", "Certificate"),
}


def controller_client(stack: Stack) -> KubeAPI:
    access = stack.access
    return KubeAPI(access.url, access.token(stack.controller_user), access.ca_pem)


async def forbidden(call: Awaitable[object]) -> bool:
    """Whether the API server refused the call with 403 (the test fails if it succeeded)."""
    with pytest.raises(KubeError) as refused:
        await call
    return refused.value.status == 403


async def test_installs_crds_namespaces_and_the_api_key_secret(stack: Stack) -> None:
    for api_version, kind in CRDS:
        assert (await stack.kube.resource(api_version, kind)).plural == kind.lower() + "s"
    for namespace in ("zerossl-issuer-system", "default"):
        assert await stack.kube.get("v1", "Namespace", namespace) is not None
    secret = await stack.kube.get("v1", "Secret", "zerossl-api-key", "zerossl-issuer-system")
    assert secret is not None
    assert base64.b64decode(secret["data"]["api-key"]).decode() == stack.options.api_key
    account = await stack.kube.get(
        "v1", "ServiceAccount", "zerossl-issuer", "zerossl-issuer-system"
    )
    assert account is not None


async def test_the_controller_token_gets_exactly_the_manifest_rbac(stack: Stack) -> None:
    async with controller_client(stack) as kube:
        await kube.list_objects("cert-manager.io/v1", "CertificateRequest")
        await kube.list_objects("v1", "Secret")
        # The leader-election Role: get on its own Lease only, in its namespace only.
        lease = ("coordination.k8s.io/v1", "Lease")
        assert await kube.get(*lease, "zerossl-issuer", "zerossl-issuer-system") is None
        assert await forbidden(kube.get(*lease, "another-lease", "zerossl-issuer-system"))
        assert await forbidden(kube.get(*lease, "zerossl-issuer", "default"))
        # Never a write on Secrets.
        as_controller = Cluster(kube, secret_namespace="default", api_key="x")
        assert await forbidden(as_controller.create_api_key_secret())


async def test_apply_rbac_replaces_the_previous_rules(stack: Stack) -> None:
    namespace = "zerossl-issuer-system"
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "only-secrets", "namespace": namespace},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "only-secrets", "namespace": namespace},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "only-secrets",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "zerossl-issuer", "namespace": namespace}],
    }
    await stack.apply_rbac([role, binding])
    async with controller_client(stack) as kube:
        await kube.list_objects("v1", "Secret", namespace)
        assert await forbidden(kube.list_objects("v1", "Secret", "default"))
        assert await forbidden(kube.list_objects("cert-manager.io/v1", "CertificateRequest"))
    rbac = "rbac.authorization.k8s.io/v1"
    assert await stack.kube.get(rbac, "ClusterRole", "zerossl-issuer-controller") is None
    assert await stack.kube.get(rbac, "Role", "only-secrets", namespace) is not None


async def test_kubectl_works_with_the_admin_kubeconfig(stack: Stack, kube_world: str) -> None:
    kubectl = kubectl_for(kube_world)
    result = await asyncio.to_thread(
        subprocess.run,
        [kubectl, "get", "zerosslorders", "-A", "-o", "name"],
        env={**os.environ, "KUBECONFIG": str(stack.admin_kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


async def test_subprocess_modes_serve_and_leave_no_process_behind() -> None:
    before = children()
    options = StackOptions(replicas=0, kube_mode="subprocess", zerossl_mode="subprocess")
    async with Stack(options) as stack:
        assert len(children() - before) == 2
        order = await stack.kube.resource("zerossl.issuer.dev/v1alpha1", "ZeroSSLOrder")
        assert order.namespaced
        assert await stack.zerossl_admin.add_account("another-key", quota=1)
        with pytest.raises(RuntimeError, match="subprocess"):
            _ = stack.kube_server
        with pytest.raises(RuntimeError, match="subprocess"):
            _ = stack.emulator
        workdir = stack.workdir
    assert children() == before
    assert not workdir.exists()


async def test_a_given_workdir_is_kept_with_its_kubeconfigs(tmp_path: Path) -> None:
    async with Stack(StackOptions(replicas=0, workdir=tmp_path / "stack")) as stack:
        url = stack.access.url
    assert url in (tmp_path / "stack" / "kubeconfig").read_text()
    assert (tmp_path / "stack" / "controller.kubeconfig").stat().st_mode & 0o777 == 0o600


def test_bad_options_are_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="replicas must be >= 0"):
        StackOptions(replicas=-1)
    with pytest.raises(ValueError, match="kube_mode must be one of"):
        StackOptions(kube_mode="docker")  # type: ignore[arg-type]
