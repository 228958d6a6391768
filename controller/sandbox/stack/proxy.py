"""A loopback TCP proxy standing in for a Kubernetes Service: each connection goes to one of
the endpoints that are up at that moment.

Invariants: endpoints are asked for per connection (so replicas that die or restart drop out
and come back without bookkeeping) and tried round-robin, skipping any that refuse within
``connect_timeout``; a connection no endpoint accepts is closed, as a Service without ready
endpoints would; a connection idle for ``idle_timeout`` is closed; every per-connection task is
cancelled and awaited on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Final, Self

from .ports import LOOPBACK

Address = tuple[str, int]
Endpoints = Callable[[], Sequence[Address]]

_CHUNK: Final = 64 * 1024


class ServiceProxy:
    def __init__(
        self,
        endpoints: Endpoints,
        *,
        host: str = LOOPBACK,
        connect_timeout: float = 1.0,
        idle_timeout: float = 30.0,
    ) -> None:
        self._endpoints = endpoints
        self._host = host
        self._connect_timeout = connect_timeout
        self._idle_timeout = idle_timeout
        self._turn = itertools.count()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.forwarded: Counter[Address] = Counter()
        """Connections handed to each endpoint so far."""
        self.refused = 0
        """Connections closed because no endpoint accepted them."""

    @property
    def address(self) -> Address:
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, self._host, 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in self._connections:
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream = await self._connect()
            if upstream is None:
                self.refused += 1
                return
            up_reader, up_writer = upstream
            try:
                async with asyncio.TaskGroup() as pipes:
                    pipes.create_task(self._pipe(reader, up_writer))
                    pipes.create_task(self._pipe(up_reader, writer))
            finally:
                await _close(up_writer)
        except* (OSError, TimeoutError):
            pass  # a peer went away or idled out: the connection ends, as it would in a Service
        finally:
            await _close(writer)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        endpoints = list(self._endpoints())
        if not endpoints:
            return None
        start = next(self._turn)
        for i in range(len(endpoints)):
            endpoint = endpoints[(start + i) % len(endpoints)]
            try:
                async with asyncio.timeout(self._connect_timeout):
                    connection = await asyncio.open_connection(*endpoint)
            except (OSError, TimeoutError):
                continue
            self.forwarded[endpoint] += 1
            return connection
        return None

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while True:
            async with asyncio.timeout(self._idle_timeout):
                chunk = await source.read(_CHUNK)
            if not chunk:
                if sink.can_write_eof():
                    sink.write_eof()
                return
            sink.write(chunk)
            await sink.drain()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
