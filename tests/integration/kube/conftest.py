"""Fixtures: the in-process emulated kube-apiserver and a kubeconfig pointing at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.sandbox.kube import KubeAPIServer

pytestmark = pytest.mark.integration


@pytest.fixture
async def apiserver() -> AsyncIterator[KubeAPIServer]:
    # Short bookmark interval and history so that bookmarks and 410s happen within seconds.
    async with KubeAPIServer(port=0, bookmark_interval=0.5, history=200) as api:
        yield api


@pytest.fixture
def kubeconfig(apiserver: KubeAPIServer, tmp_path: Path) -> Path:
    return apiserver.write_kubeconfig(tmp_path / "kubeconfig")
