"""Cluster configuration: kubeconfig (TLS, CA, token), in-cluster token rotation, settings."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes_asyncio.config import incluster_config

from controller.config import Settings
from controller.kube.client import KubeClient
from controller.kube.kubeconfig import (
    ClusterConfig,
    KubeConfigError,
    load_cluster_config,
    load_incluster,
)
from controller.kube.resource import NAMESPACES


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "server.crt", tmp_path / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


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


async def test_in_cluster_token_is_reread_when_rotated(
    tmp_path: Path, tls_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert, seen = tls_server
    token = tmp_path / "token"
    token.write_text("first")
    host, port = url.removeprefix("https://").split(":")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(cert))
    monkeypatch.setattr(incluster_config, "TOKEN_REFRESH_PERIOD", datetime.timedelta(0))
    config = await load_cluster_config()
    assert config.host == url
    async with KubeClient.from_config(config) as client:
        await client.get(NAMESPACES, "default")
        token.write_text("second")
        await client.get(NAMESPACES, "default")
    assert seen == ["Bearer first", "Bearer second"]


def test_in_cluster_outside_a_cluster_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubeConfigError, match="in-cluster"):
        load_incluster()


async def test_missing_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="missing"):
        await KubeClient.from_kubeconfig(str(tmp_path / "missing"))


def test_a_host_without_scheme_is_refused() -> None:
    with pytest.raises(KubeConfigError, match="http"):
        ClusterConfig("127.0.0.1:6443")


async def test_from_settings_applies_qps_and_timeout(tmp_path: Path, tls_server: Any) -> None:
    url, _, _ = tls_server
    path = write_kubeconfig(
        tmp_path / "kubeconfig", url, {"insecure-skip-tls-verify": True}, {"token": "t"}
    )
    settings = Settings(kube_qps=7.0, kube_burst=3, kube_timeout=4.0)
    async with await KubeClient.from_settings(settings, kubeconfig=str(path)) as client:
        assert client.timeout == 4.0
        assert client.config.host == url
        assert client._bucket.rate == 7.0
        assert client._bucket.burst == 3
