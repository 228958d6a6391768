"""Cluster configuration: kubeconfig (TLS, CA, token), the in-cluster service account read
directly (token rotation, clear errors), and the production client's parameters."""

from __future__ import annotations

import asyncio
import base64
import itertools
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from controller.kube.client import KubeClient
from controller.kube.incluster import ServiceAccountToken, load_incluster
from controller.kube.kubeconfig import ClusterConfig, KubeConfigError, load_cluster_config
from controller.kube.resource import NAMESPACES
from tests.support.tls import self_signed


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[str, Path, list[str]]]:
    """An HTTPS server that records the Authorization header of every request."""
    cert, key = self_signed(tmp_path)
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"metadata": {"name": "default"}})

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    server = TestServer(app)
    await server.start_server(ssl=context)
    yield f"https://127.0.0.1:{server.port}", cert, seen
    await server.close()


def write_kubeconfig(
    path: Path, server: str, cluster: dict[str, Any], user: dict[str, Any]
) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, **cluster}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    path.write_text(yaml.safe_dump(document))
    return path


async def test_kubeconfig_with_ca_data_and_token(tmp_path: Path, tls_server: Any) -> None:
    url, cert, seen = tls_server
    ca = base64.b64encode(cert.read_bytes()).decode()
    path = write_kubeconfig(
        tmp_path / "kubeconfig", url, {"certificate-authority-data": ca}, {"token": "t0ken"}
    )
    async with await KubeClient.from_kubeconfig(str(path)) as client:
        assert (await client.get(NAMESPACES, "default"))["metadata"]["name"] == "default"
    assert seen == ["Bearer t0ken"]
    assert "t0ken" not in repr(client.config)


async def test_tls_is_verified_against_the_configured_ca(tmp_path: Path, tls_server: Any) -> None:
    url, _, seen = tls_server
    (tmp_path / "other").mkdir()
    other_ca, _ = self_signed(tmp_path / "other")
    path = write_kubeconfig(
        tmp_path / "kubeconfig", url, {"certificate-authority": str(other_ca)}, {"token": "t"}
    )
    async with await KubeClient.from_kubeconfig(str(path), timeout=2.0) as client:
        with pytest.raises(ssl.SSLCertVerificationError):
            await client.get(NAMESPACES, "default")
    assert seen == []


async def test_insecure_skip_tls_verify(tmp_path: Path, tls_server: Any) -> None:
    url, _, seen = tls_server
    path = write_kubeconfig(
        tmp_path / "kubeconfig", url, {"insecure-skip-tls-verify": True}, {"token": "t"}
    )
    async with await KubeClient.from_kubeconfig(str(path)) as client:
        await client.get(NAMESPACES, "default")
    assert seen == ["Bearer t"]


def service_account(tmp_path: Path, cert: Path, token: str = "first") -> Path:
    directory = tmp_path / "serviceaccount"
    directory.mkdir()
    (directory / "token").write_text(token + "\n")
    (directory / "ca.crt").write_bytes(cert.read_bytes())
    return directory


async def test_in_cluster_token_is_reread_when_rotated(tmp_path: Path, tls_server: Any) -> None:
    url, cert, seen = tls_server
    directory = service_account(tmp_path, cert)
    host, port = url.removeprefix("https://").split(":")
    environ = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}
    config = load_incluster(environ=environ, directory=directory, refresh=0.0)
    assert config.host == url
    async with KubeClient.from_config(config) as client:
        await client.get(NAMESPACES, "default")
        (directory / "token").write_text("second")
        await client.get(NAMESPACES, "default")
    assert seen == ["Bearer first", "Bearer second"]
    assert "first" not in repr(config)
    assert "second" not in repr(config)


def test_the_token_is_read_at_most_once_per_refresh_period(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("one")
    ticks = itertools.count()
    token = ServiceAccountToken(path, refresh=60.0, clock=lambda: 30.0 * next(ticks))
    path.write_text("two")

    async def values() -> list[str]:
        return [await token() for _ in range(3)]

    assert asyncio.run(values()) == ["Bearer one", "Bearer two", "Bearer two"]


async def test_in_cluster_is_chosen_without_kubeconfig(tmp_path: Path, tls_server: Any) -> None:
    url, cert, _ = tls_server
    host, port = url.removeprefix("https://").split(":")
    environ = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}
    directory = service_account(tmp_path, cert)
    with pytest.raises(KubeConfigError, match="token"):
        # the real mount is absent on this machine: the error names the token file
        await load_cluster_config(environ=environ)
    config = load_incluster(environ=environ, directory=directory)
    assert config.host == url


def test_in_cluster_ipv6_service_host_is_bracketed(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    directory = service_account(tmp_path, cert)
    environ = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    assert load_incluster(environ=environ, directory=directory).host == "https://[fd00::1]:443"


def test_in_cluster_outside_a_cluster_is_a_clear_error() -> None:
    with pytest.raises(KubeConfigError, match="KUBERNETES_SERVICE_HOST"):
        load_incluster(environ={})


@pytest.mark.parametrize(
    ("token", "ca", "message"),
    [
        (None, b"x", "token"),
        ("", b"x", "empty"),
        ("t", None, "CA"),
        ("t", b"", "CA"),
    ],
)
def test_in_cluster_missing_or_empty_files_are_clear_errors(
    tmp_path: Path, token: str | None, ca: bytes | None, message: str
) -> None:
    if token is not None:
        (tmp_path / "token").write_text(token)
    if ca is not None:
        (tmp_path / "ca.crt").write_bytes(ca)
    environ = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(KubeConfigError, match=message) as raised:
        load_incluster(environ=environ, directory=tmp_path)
    assert "in-cluster" in str(raised.value)


async def test_missing_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="missing"):
        await KubeClient.from_kubeconfig(str(tmp_path / "missing"))


def test_a_host_without_scheme_is_refused() -> None:
    with pytest.raises(KubeConfigError, match="http"):
        ClusterConfig("127.0.0.1:6443")


async def test_connect_applies_qps_and_timeout(tmp_path: Path, tls_server: Any) -> None:
    url, _, _ = tls_server
    path = write_kubeconfig(
        tmp_path / "kubeconfig", url, {"insecure-skip-tls-verify": True}, {"token": "t"}
    )
    async with await KubeClient.connect(str(path), qps=7.0, burst=3, timeout=4.0) as client:
        assert client.timeout == 4.0
        assert client.config.host == url
        assert client._bucket.rate == 7.0
        assert client._bucket.burst == 3
