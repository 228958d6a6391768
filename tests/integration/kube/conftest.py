"""Fixtures: an API server in each world (the sandbox's emulated one in this event loop, or the
real control plane) and an admin kubeconfig pointing at it.

``apiserver`` is a :class:`KubeEndpoint`; fault injection (``apiserver.faults``) exists only on
the emulator, so tests that use it are marked ``emulator_only``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.sandbox.kube import KubeAPIServer
from controller.sandbox.kube.faults import Faults
from controller.sandbox.stack.apiserver import ApiServerSettings
from controller.sandbox.stack.controlplane import ControlPlane
from tests.conftest import KubeWorld

pytestmark = pytest.mark.integration


@dataclass(frozen=True, slots=True)
class KubeEndpoint:
    world: KubeWorld
    port: int
    kubeconfig: Path
    emulator: KubeAPIServer | None = None
    control_plane: ControlPlane | None = None

    @property
    def faults(self) -> Faults:
        if self.emulator is None:
            raise RuntimeError("fault injection is the emulator's: mark the test emulator_only")
        return self.emulator.faults

    async def expire_watch_history(self) -> None:
        """Make every resourceVersion seen so far too old to watch from (410 Gone): the
        emulator compacts its history; the real API server is restarted (a new watch cache
        starts at etcd's current revision)."""
        if self.emulator is not None:
            self.emulator.faults.compact()
        elif self.control_plane is not None:
            await self.control_plane.restart_apiserver()


@pytest.fixture
async def apiserver(kube_world: KubeWorld, tmp_path: Path) -> AsyncIterator[KubeEndpoint]:
    if kube_world == "real":
        async with ControlPlane(ApiServerSettings(), tmp_path / "controlplane") as real:
            path = real.access.write_kubeconfig(tmp_path / "kubeconfig")
            port = int(real.access.url.rsplit(":", 1)[1])
            yield KubeEndpoint(kube_world, port, path, control_plane=real)
        return
    # Short bookmark interval and history so that bookmarks and 410s happen within seconds.
    async with KubeAPIServer(port=0, bookmark_interval=0.5, history=200) as api:
        path = api.write_kubeconfig(tmp_path / "kubeconfig")
        yield KubeEndpoint(kube_world, api.port, path, emulator=api)


@pytest.fixture
def kubeconfig(apiserver: KubeEndpoint) -> Path:
    return apiserver.kubeconfig
