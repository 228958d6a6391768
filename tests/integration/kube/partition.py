"""A TCP relay in front of the API server that can be cut: bytes stop flowing both ways while
connections stay open (a half-open network partition, the case client-side timeouts exist for).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import yaml


class PartitionableRelay:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def __aenter__(self) -> PartitionableRelay:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def cut(self) -> None:
        self._flowing.clear()

    def heal(self) -> None:
        self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._flowing.wait()
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            async with asyncio.TaskGroup() as pipes:
                pipes.create_task(self._pipe(reader, up_writer))
                pipes.create_task(self._pipe(up_reader, writer))
        except* OSError:
            pass  # either side hung up
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        finally:
            with contextlib.suppress(OSError):
                sink.close()


def relayed_kubeconfig(original: Path, relay: PartitionableRelay, target: Path) -> Path:
    """A copy of ``original`` whose server is the relay (same TLS name: 127.0.0.1)."""
    document = yaml.safe_load(original.read_text())
    for cluster in document["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{relay.port}"
    target.write_text(yaml.safe_dump(document))
    return target
