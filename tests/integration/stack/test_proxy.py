"""The solver Service proxy on its own: round-robin over live endpoints, failover past dead
ones, no endpoints, and bytes passed through intact in both directions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from controller.sandbox.stack import ServiceProxy
from controller.sandbox.stack.proxy import Address

pytestmark = pytest.mark.integration


class Backend:
    """Answers each connection with its name, then echoes everything until EOF."""

    def __init__(self, name: bytes) -> None:
        self.name = name
        self.server: asyncio.Server | None = None

    @property
    def address(self) -> Address:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return host, port

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(self.name + b"\n")
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        writer.close()


@pytest.fixture
async def backends() -> AsyncIterator[list[Backend]]:
    started = [Backend(b"a"), Backend(b"b")]
    for backend in started:
        backend.server = await asyncio.start_server(backend.handle, "127.0.0.1", 0)
    yield started
    for backend in started:
        assert backend.server is not None
        backend.server.close()
        await backend.server.wait_closed()


async def exchange(proxy: ServiceProxy, payload: bytes = b"") -> bytes:
    """Send ``payload``, half-close, and read the whole answer."""
    reader, writer = await asyncio.open_connection(*proxy.address)
    writer.write(payload)
    writer.write_eof()
    async with asyncio.timeout(10):
        answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


async def test_round_robin_over_live_endpoints(backends: list[Backend]) -> None:
    async with ServiceProxy(lambda: [b.address for b in backends]) as proxy:
        names = [(await exchange(proxy)).strip() for _ in range(4)]
    assert sorted(names) == [b"a", b"a", b"b", b"b"]
    assert proxy.forwarded == {b.address: 2 for b in backends}


async def test_dead_endpoints_are_skipped_and_no_endpoint_closes_the_connection(
    backends: list[Backend],
) -> None:
    endpoints = [backends[1].address, backends[0].address]
    assert backends[1].server is not None
    backends[1].server.close()
    await backends[1].server.wait_closed()
    async with ServiceProxy(lambda: endpoints) as proxy:
        assert [(await exchange(proxy)).strip() for _ in range(3)] == [b"a"] * 3
        endpoints.clear()
        assert await exchange(proxy) == b""
    assert proxy.refused == 1


async def test_payloads_pass_intact_both_ways(backends: list[Backend]) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, more than any socket buffer
    async with ServiceProxy(lambda: [backends[0].address]) as proxy:
        assert await exchange(proxy, payload) == b"a\n" + payload


async def test_open_connections_are_closed_on_exit(backends: list[Backend]) -> None:
    async with ServiceProxy(lambda: [backends[0].address]) as proxy:
        reader, writer = await asyncio.open_connection(*proxy.address)
        assert await reader.readline() == b"a\n"
    async with asyncio.timeout(5):
        assert await reader.read() == b""
    writer.close()
