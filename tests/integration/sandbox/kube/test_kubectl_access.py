"""The real kubectl's protobuf `create` generators, `create token`, `auth whoami`,
`auth can-i` (with `--as`, `--as-group`, `--list`) against the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from controller.sandbox.kube import KubeAPIServer

from .conftest import Kubectl, started

RBAC = "rbac.authorization.k8s.io/v1"


@pytest.fixture
async def secured() -> AsyncIterator[KubeAPIServer]:
    async with started(authorization=True) as (server, _):
        yield server


async def test_create_generators_send_protobuf(kubectl: Kubectl, api: KubeAPIServer) -> None:
    for args in (
        ("create", "namespace", "shop"),
        ("-n", "shop", "create", "secret", "generic", "key", "--from-literal=api-key=s3cr3t"),
        ("-n", "shop", "create", "configmap", "cfg", "--from-literal=mode=fast"),
        ("-n", "shop", "create", "serviceaccount", "bot"),
        ("-n", "shop", "create", "role", "reader", "--verb=get,list", "--resource=secrets"),
        ("-n", "shop", "create", "rolebinding", "rb", "--role=reader", "--serviceaccount=shop:bot"),
        ("create", "clusterrole", "cr", "--verb=get", "--resource=configmaps"),
        ("create", "clusterrolebinding", "crb", "--clusterrole=cr", "--group=devs"),
        ("-n", "shop", "create", "service", "clusterip", "web", "--tcp=80:8080"),
        ("-n", "shop", "create", "deployment", "web", "--image=nginx", "--port=8080"),
        ("-n", "shop", "create", "ingress", "web", "--rule=a.example.com/=web:80,tls=web-tls"),
    ):
        await kubectl.run(*args)
    namespace = api.get_object("v1", "Namespace", "shop")
    assert namespace is not None
    assert namespace["status"]["phase"] == "Active"
    secret = api.get_object("v1", "Secret", "key", "shop")
    assert secret is not None
    assert secret["data"] == {"api-key": "czNjcjN0"}
    assert secret["type"] == "Opaque"
    configmap = api.get_object("v1", "ConfigMap", "cfg", "shop")
    assert configmap is not None
    assert configmap["data"] == {"mode": "fast"}
    assert api.get_object("v1", "ServiceAccount", "bot", "shop") is not None
    role = api.get_object(RBAC, "Role", "reader", "shop")
    assert role is not None
    assert role["rules"] == [
        {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["secrets"]}
    ]
    binding = api.get_object(RBAC, "RoleBinding", "rb", "shop")
    assert binding is not None
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "reader",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "bot", "namespace": "shop"}]
    cluster_binding = api.get_object(RBAC, "ClusterRoleBinding", "crb")
    assert cluster_binding is not None
    assert cluster_binding["subjects"][0]["name"] == "devs"
    service = api.get_object("v1", "Service", "web", "shop")
    assert service is not None
    assert service["spec"]["ports"] == [
        {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}
    ]
    assert service["spec"]["selector"] == {"app": "web"}
    deployment = api.get_object("apps/v1", "Deployment", "web", "shop")
    assert deployment is not None
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert deployment["spec"]["template"]["spec"]["containers"] == [
        {"name": "nginx", "image": "nginx", "ports": [{"containerPort": 8080}]}
    ]
    ingress = api.get_object("networking.k8s.io/v1", "Ingress", "web", "shop")
    assert ingress is not None
    assert ingress["spec"]["rules"] == [
        {
            "host": "a.example.com",
            "http": {
                "paths": [
                    {
                        "path": "/",
                        "pathType": "Exact",
                        "backend": {"service": {"name": "web", "port": {"number": 80}}},
                    }
                ]
            },
        }
    ]
    assert ingress["spec"]["tls"] == [{"hosts": ["a.example.com"], "secretName": "web-tls"}]

    # the real server's table columns
    for resource, header, row in (
        ("svc", "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE", ["web", "ClusterIP"]),
        ("sa", "NAME SECRETS AGE", ["bot", "0"]),
        (
            "ing",
            "NAME CLASS HOSTS ADDRESS PORTS AGE",
            ["web", "<none>", "a.example.com", "80, 443"],
        ),
    ):
        _, out, _ = await kubectl.run("-n", "shop", "get", resource)
        lines = out.strip().splitlines()
        assert lines[0].split() == header.split()
        assert " ".join(lines[1].split()).startswith(" ".join(row)), lines[1]


async def test_token_request_authenticates_as_the_service_account(
    secured: KubeAPIServer, tmp_path: Path
) -> None:
    admin = Kubectl.against(secured, tmp_path)
    await admin.run("create", "serviceaccount", "bot")
    _, out, _ = await admin.run("create", "token", "bot", "--duration=20m", "-o", "yaml")
    answer = yaml.safe_load(out)
    expires = datetime.fromisoformat(answer["status"]["expirationTimestamp"])
    assert 1190 <= (expires - datetime.now(UTC)).total_seconds() <= 1201
    token = answer["status"]["token"]
    _, out, _ = await admin.run("auth", "whoami", f"--token={token}")
    assert "system:serviceaccount:default:bot" in out
    assert "system:serviceaccounts:default" in out
    _, out, _ = await admin.run("auth", "can-i", "list", "secrets", f"--token={token}", check=False)
    assert out.strip() == "no"

    code, _, err = await admin.run("create", "token", "bot", "--duration=1m", check=False)
    assert code == 1
    assert "may not specify a duration less than 10 minutes" in err
    code, _, err = await admin.run("create", "token", "ghost", check=False)
    assert code == 1
    assert 'serviceaccounts "ghost" not found' in err


async def test_can_i_and_impersonation_use_the_rbac_authorizer(
    secured: KubeAPIServer, tmp_path: Path
) -> None:
    admin = Kubectl.against(secured, tmp_path)
    await admin.run("create", "serviceaccount", "bot")
    await admin.run("create", "role", "reader", "--verb=get,list", "--resource=secrets")
    await admin.run("create", "rolebinding", "rb", "--role=reader", "--serviceaccount=default:bot")
    await admin.run("create", "clusterrole", "cm-reader", "--verb=get", "--resource=configmaps")
    await admin.run(
        "create", "clusterrolebinding", "devs", "--clusterrole=cm-reader", "--group=devs"
    )
    bot = "--as=system:serviceaccount:default:bot"

    async def can_i(*args: str) -> str:
        _, out, _ = await admin.run("auth", "can-i", *args, check=False)
        return out.strip()

    assert await can_i("list", "secrets", bot) == "yes"
    assert await can_i("delete", "secrets", bot) == "no"
    assert await can_i("list", "secrets", bot, "-n", "kube-system") == "no"
    assert await can_i("get", "configmaps", "--as=jane") == "no"
    assert await can_i("get", "configmaps", "--as=jane", "--as-group=devs") == "yes"
    assert await can_i("get", "/healthz") == "yes"
    assert await can_i("create", "secrets", "--subresource=status", bot) == "no"
    _, out, _ = await admin.run("auth", "can-i", "--list", bot)
    rows = [line.split() for line in out.splitlines()]
    assert ["secrets", "[]", "[]", "[get", "list]"] in rows
    _, out, _ = await admin.run("auth", "whoami", "--as=jane", "--as-group=devs", "-o", "yaml")
    assert yaml.safe_load(out)["status"]["userInfo"] == {
        "username": "jane",
        "groups": ["devs", "system:authenticated"],
    }

    secured.add_user("jane")
    jane = Kubectl.against(secured, tmp_path, "jane")
    code, _, err = await jane.run("get", "secrets", "--as=admin", check=False)
    assert code == 1
    assert 'users "admin" is forbidden: User "jane" cannot impersonate resource "users"' in err
