"""Fixtures for the stack's own tests: a stack without replicas (RBAC enforced), and options
whose "controller" is :mod:`fake_controller`, plus a ZeroSSL client small enough to drive one
issuance by hand, as the real controller would, and :func:`by_hand` to run a replica's
recorded command script."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yarl

from controller.sandbox.stack import ControllerOptions, Stack, StackOptions
from controller.sandbox.stack.replica import http_get
from tests.conftest import KubeWorld

FAKE_CONTROLLER = (sys.executable, "-m", "tests.integration.stack.fake_controller")


def fake_options(solver_dir: Path, **options: Any) -> StackOptions:
    """Stack options whose replicas run the fake controller serving ``solver_dir``."""
    controller = ControllerOptions(
        command=FAKE_CONTROLLER,
        env={"FAKE_SOLVER_DIR": str(solver_dir)},
        ready_timeout=20.0,
        stop_grace=5.0,
    )
    return StackOptions(controller=controller, **options)


@pytest.fixture
async def stack(kube_world: KubeWorld) -> AsyncIterator[Stack]:
    """No replicas, RBAC enforced, on each API-server world."""
    kube_mode = "real" if kube_world == "real" else "in-process"
    async with Stack(StackOptions(replicas=0, authorization=True, kube_mode=kube_mode)) as running:
        yield running


class ZeroSSL:
    """The three calls of an HTTP-validated issuance, raw (``success: false`` fails)."""

    def __init__(self, session: aiohttp.ClientSession, url: str, key: str) -> None:
        self.session, self.url, self.key = session, url, key

    async def call(self, method: str, path: str, data: dict[str, str] | None = None) -> Any:
        async with self.session.request(
            method, f"{self.url}{path}", params={"access_key": self.key}, data=data
        ) as response:
            assert response.status == 200, await response.text()
            body = await response.json()
        assert not (isinstance(body, dict) and body.get("success") is False), body
        return body

    async def issue(self, names: list[str], csr_pem: bytes, solver_dir: Path) -> str:
        """Create, publish the validation files in ``solver_dir``, verify over HTTP, wait until
        issued; returns the chain PEM (leaf first)."""
        created = await self.call(
            "POST",
            "/certificates",
            {
                "certificate_domains": ",".join(names),
                "certificate_csr": csr_pem.decode(),
                "strict_domains": "1",
            },
        )
        for entry in created["validation"]["other_methods"].values():
            file_name = yarl.URL(entry["file_validation_url_http"]).name
            (solver_dir / file_name).write_text("\n".join(entry["file_validation_content"]))
        await self.call(
            "POST",
            f"/certificates/{created['id']}/challenges",
            {"validation_method": "HTTP_CSR_HASH"},
        )
        async with asyncio.timeout(20):
            while (await self.call("GET", f"/certificates/{created['id']}"))["status"] != "issued":
                await asyncio.sleep(0.05)
        files = await self.call("GET", f"/certificates/{created['id']}/download/return")
        return f"{files['certificate.crt'].strip()}\n{files['ca_bundle.crt'].strip()}\n"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@asynccontextmanager
async def by_hand(script: Path, probe_url: str, env: Mapping[str, str]) -> AsyncIterator[None]:
    """``sh script`` with ``env`` added, until /readyz passes; SIGTERM to its group on exit."""
    process = await asyncio.create_subprocess_exec(
        "sh", str(script), env={**os.environ, **env}, start_new_session=True
    )
    try:
        async with asyncio.timeout(20):
            while True:
                try:
                    if (await http_get(f"{probe_url}/readyz"))[0] == 200:
                        break
                except aiohttp.ClientError:
                    pass
                assert process.returncode is None, "the hand-started replica exited"
                await asyncio.sleep(0.1)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        async with asyncio.timeout(10):
            await process.wait()
