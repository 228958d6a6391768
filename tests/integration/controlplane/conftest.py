"""Fixtures: a bare real control plane (no stack on top) and kubectl bound to it."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Sequence
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

    async def shell(self, lines: Sequence[str]) -> None:
        for line in lines:
            await self(*line.split())


@pytest.fixture
async def real_cluster(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    require_controlplane()
    async with ControlPlane(ApiServerSettings(), tmp_path / "controlplane") as real:
        yield real


@pytest.fixture
def real_kubectl(real_cluster: ControlPlane, tmp_path: Path) -> Kubectl:
    path = real_cluster.access.write_kubeconfig(tmp_path / "kubeconfig")
    return Kubectl(kubectl_for("real"), path)
