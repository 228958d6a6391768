"""The real control plane fixture itself: ServiceAccount tokens come from TokenRequest and
authenticate as the account, the admin is in system:masters, RBAC is enforced, the controller
manager garbage-collects owned objects, and leaving the context leaves no process and no port
behind."""

from __future__ import annotations

import socket
from pathlib import Path

import psutil
import pytest

from controller.sandbox.stack import KubeAPI, KubeError
from controller.sandbox.stack.apiserver import ApiServerSettings, service_account_user
from controller.sandbox.stack.controlplane import ControlPlane, ControlPlaneMissing, binary
from controller.sandbox.stack.waiting import poll
from tests.support import require_controlplane

ACCOUNT = ("tenant", "robot")


async def whoami(url: str, token: str, ca_pem: bytes | None) -> str:
    async with KubeAPI(url, token, ca_pem) as kube:
        review = await kube.request(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
    return str(review["status"]["userInfo"]["username"])


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_tokens_rbac_garbage_collection_and_a_clean_stop(tmp_path: Path) -> None:
    require_controlplane()
    settings = ApiServerSettings(service_accounts=(ACCOUNT,))
    async with ControlPlane(settings, tmp_path / "cp") as real:
        access = real.access
        user = service_account_user(*ACCOUNT)
        assert await whoami(access.url, access.token(user), access.ca_pem) == user
        assert await whoami(access.url, access.admin_token, access.ca_pem) == "admin"
        async with KubeAPI(access.url, access.token(user), access.ca_pem) as robot:
            with pytest.raises(KubeError) as refused:
                await robot.request("GET", "/api/v1/namespaces/tenant/secrets")
            assert refused.value.status == 403
        async with KubeAPI(access.url, access.admin_token, access.ca_pem) as admin:
            owner = await admin.create(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "owner", "namespace": "tenant"},
                }
            )
            ref = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "name": "owner",
                "uid": owner["metadata"]["uid"],
            }
            await admin.create(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "owned", "namespace": "tenant", "ownerReferences": [ref]},
                }
            )
            await admin.delete("v1", "ConfigMap", "owner", "tenant")

            async def collected() -> bool | None:
                return (
                    True if await admin.get("v1", "ConfigMap", "owned", "tenant") is None else None
                )

            await poll(
                collected, timeout=30, describe=lambda: "the owned ConfigMap was not collected"
            )
        pids = [p.pid for p in real.processes]
        port = int(access.url.rsplit(":", 1)[1])
    assert all(
        not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie" for pid in pids
    )
    assert port_is_free(port)


def test_a_missing_binary_names_the_make_target(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ZEROSSL_ISSUER_CONTROLPLANE_DIR", str(tmp_path))
    with pytest.raises(ControlPlaneMissing, match="run `make controlplane`"):
        binary("kube-apiserver")
