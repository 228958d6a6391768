"""Fixtures: a bare real control plane (no stack on top) and kubectl bound to it."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.sandbox.stack.apiserver import ApiServerSettings
from controller.sandbox.stack.controlplane import ControlPlane
from tests.support import kubectl_for, require_controlplane

pytestmark = pytest.mark.integration


@dataclass(frozen=True, slots=True)
class Kubectl:
    """Runs a kubectl binary with one kubeconfig from the repository root."""

    binary: str
    kubeconfig: Path
    control_plane: ControlPlane | None = None
    """The real control plane behind the kubeconfig, if that is the world."""

    async def __call__(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = await asyncio.to_thread(
            subprocess.run,
            [self.binary, *args],
            input=stdin,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
            cwd=Path(__file__).parents[3],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result

    async def script(self, text: str) -> subprocess.CompletedProcess[str]:
        """``text`` run by bash with this kubectl first on PATH (a HOME of its own keeps the
        discovery cache out of the working tree)."""
        home = self.kubeconfig.parent / "home"
        home.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "HOME": str(home),
            "PATH": f"{Path(self.binary).parent}:{os.environ['PATH']}",
        }
        return await asyncio.to_thread(
            subprocess.run,
            ["/bin/bash", "-eo", "pipefail", "-c", text],
            env=env,
            cwd=Path(__file__).parents[3],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture
async def real_cluster(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    require_controlplane()
    async with ControlPlane(ApiServerSettings(), tmp_path / "controlplane") as real:
        yield real


@pytest.fixture
def real_kubectl(real_cluster: ControlPlane, tmp_path: Path) -> Kubectl:
    path = real_cluster.access.write_kubeconfig(tmp_path / "kubeconfig")
    return Kubectl(kubectl_for("real"), path)
