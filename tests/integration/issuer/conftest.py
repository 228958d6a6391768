"""Fixtures: the emulated kube-apiserver with every CRD the issuer touches, a controller-side
KubeClient for it, and the controller's namespace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.kube.client import KubeClient
from controller.sandbox.kube import KubeAPIServer
from tests.support.bind9 import bind9

__all__ = ["bind9"]

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
CRDS = (
    ROOT / "controller" / "sandbox" / "crds",
    ROOT / "manifests" / "crds",
    Path(__file__).parent / "crds",
)
NAMESPACE = "zerossl-issuer-system"


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
