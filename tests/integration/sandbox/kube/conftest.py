"""Fixtures: an in-process sandbox API server, a raw HTTP client and a kubernetes-asyncio client."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from kubernetes_asyncio import client, config

from controller.sandbox.kube import KubeAPIServer

pytestmark = pytest.mark.integration


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
