"""Fixtures: the emulated kube-apiserver with every CRD the issuer touches, a controller-side
KubeClient for it, the emulated ZeroSSL, and the :class:`Sandbox` tying them together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.kube.client import KubeClient
from controller.sandbox.kube import KubeAPIServer
from controller.sandbox.stack.cluster import Cluster
from controller.sandbox.stack.kubeapi import KubeAPI
from controller.sandbox.zerossl import ZeroSSLEmulator
from tests.integration.issuer.harness import API_KEY, NAMESPACE, Sandbox
from tests.support.bind9 import bind9

__all__ = ["bind9"]

ROOT = Path(__file__).resolve().parents[3]
CRDS = (
    ROOT / "controller" / "sandbox" / "crds",
    ROOT / "manifests" / "crds",
    Path(__file__).parent / "crds",
)


@pytest.fixture
async def apiserver() -> AsyncIterator[KubeAPIServer]:
    async with KubeAPIServer(port=0) as api:
        api.register_crds(CRDS)
        api.create_object(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        )
        yield api


@pytest.fixture
async def kube(apiserver: KubeAPIServer, tmp_path: Path) -> AsyncIterator[KubeClient]:
    path = apiserver.write_kubeconfig(tmp_path / "kubeconfig")
    async with await KubeClient.from_kubeconfig(str(path), timeout=5.0) as client:
        yield client


@pytest.fixture
async def zerossl() -> AsyncIterator[ZeroSSLEmulator]:
    async with ZeroSSLEmulator(dcv_timeout=1.0, seed=1) as emulator:
        emulator.add_account(API_KEY)
        yield emulator


@pytest.fixture
async def sandbox(
    apiserver: KubeAPIServer, kube: KubeClient, zerossl: ZeroSSLEmulator
) -> AsyncIterator[Sandbox]:
    async with KubeAPI(apiserver.url, apiserver.admin_token, apiserver.ca_pem) as admin:
        cluster = Cluster(admin, secret_namespace=NAMESPACE, api_key=API_KEY)
        yield Sandbox(apiserver, kube, zerossl, cluster)
