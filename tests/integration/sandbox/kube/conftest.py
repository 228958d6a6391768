"""Fixtures: an in-process sandbox API server, a raw HTTP client and a kubernetes-asyncio client."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from kubernetes_asyncio import client, config

from controller.sandbox.kube import KubeAPIServer
from tests.support import require_binary

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent / "data"


class Raw:
    """Minimal HTTP client: returns (status, decoded JSON body or text)."""

    def __init__(self, session: aiohttp.ClientSession, api: KubeAPIServer, token: str) -> None:
        self.session = session
        self.api = api
        self.token = token
        self.ssl: ssl.SSLContext | bool = (
            ssl.create_default_context(cadata=api.ca_pem.decode()) if api.ca_pem else False
        )

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def as_token(self, token: str) -> Raw:
        return Raw(self.session, self.api, token)

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        hdrs = {**self._auth(), **(headers or {})}
        data: bytes | None = None
        if body is not None:
            data = body if isinstance(body, bytes) else orjson.dumps(body)
            hdrs["Content-Type"] = content_type
        async with self.session.request(
            method, self.api.url + path, data=data, headers=hdrs, params=params, ssl=self.ssl
        ) as resp:
            raw = await resp.read()
            self.last_headers = resp.headers
            try:
                return resp.status, orjson.loads(raw)
            except orjson.JSONDecodeError:
                return resp.status, raw.decode()

    async def watch(self, path: str, params: dict[str, str], *, limit: int = 1000) -> list[Any]:
        """Read a whole watch stream (the server ends it at timeoutSeconds)."""
        hdrs = self._auth()
        events = []
        async with self.session.get(
            self.api.url + path, params={"watch": "true", **params}, headers=hdrs, ssl=self.ssl
        ) as resp:
            assert resp.status == 200, await resp.text()
            async for line in resp.content:
                if line.strip():
                    events.append(orjson.loads(line))
                    if len(events) >= limit:
                        break
        return events


@contextlib.asynccontextmanager
async def started(**settings: Any) -> AsyncIterator[tuple[KubeAPIServer, Raw]]:
    """A server with non-default settings and an admin client for it."""
    async with KubeAPIServer(**settings) as server, aiohttp.ClientSession() as session:
        yield server, Raw(session, server, server.admin_token)


@pytest.fixture
async def api() -> AsyncIterator[KubeAPIServer]:
    async with KubeAPIServer(bookmark_interval=0.3) as server:
        yield server


@pytest.fixture
async def raw(api: KubeAPIServer) -> AsyncIterator[Raw]:
    async with aiohttp.ClientSession() as session:
        yield Raw(session, api, api.admin_token)


@pytest.fixture
async def kube(api: KubeAPIServer, tmp_path: Path) -> AsyncIterator[client.ApiClient]:
    path = api.write_kubeconfig(tmp_path / "kubeconfig")
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(path), client_configuration=configuration)
    async with client.ApiClient(configuration) as api_client:
        yield api_client


def secret(name: str, namespace: str = "default", **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, **extra.pop("metadata", {})},
        **extra,
    }


class Kubectl:
    def __init__(self, binary: str, kubeconfig: Path, cache: Path) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.cache = cache

    def _argv(self, args: tuple[str, ...]) -> list[str]:
        return [self.binary, f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.cache}", *args]

    async def run(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            *self._argv(args),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "KUBECTL_KUBERC": "false"},
        )
        out, err = await asyncio.wait_for(
            process.communicate(stdin.encode() if stdin else None), 60
        )
        code = process.returncode or 0
        if check:
            assert code == 0, f"kubectl {' '.join(args)} failed: {err.decode()}"
        return code, out.decode(), err.decode()

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *self._argv(args), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )

    @classmethod
    def against(cls, api: KubeAPIServer, folder: Path, user: str = "admin") -> Kubectl:
        """The system's kubectl with a kubeconfig for ``user`` of ``api`` in ``folder``."""
        kubeconfig = api.write_kubeconfig(folder / f"kubeconfig-{user.replace(':', '-')}", user)
        return cls(require_binary("kubectl"), kubeconfig, folder / "cache")


@pytest.fixture
def kubectl(api: KubeAPIServer, tmp_path: Path) -> Kubectl:
    """kubectl as admin against ``api``, which serves the example Widget CRD."""
    api.register_crds([DATA / "widgets.yaml"])
    return Kubectl.against(api, tmp_path)
