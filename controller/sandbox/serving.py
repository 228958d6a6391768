"""Serving an aiohttp application on a loopback port for the lifetime of an emulator.

Invariant: after :meth:`LoopbackServer.start` the application answers at :attr:`url`
(the bound port, even when 0 was asked for); :meth:`stop` releases the port and is idempotent.
"""

from __future__ import annotations

from aiohttp import web


class LoopbackServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    async def start(self, app: web.Application) -> None:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"

    async def stop(self) -> None:
        runner, self._runner, self._url = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._url is None:
            raise RuntimeError("the emulator is not running")
        return self._url
