"""``Route53Emulator``: the emulated API on a loopback port, as an async context manager."""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Self

from aiohttp import web

from controller.sandbox.route53.api import Route53Api
from controller.sandbox.route53.state import Account, RecordSet
from controller.sandbox.zerossl.ratelimit import RateLimiter


class Route53Emulator:
    """Serves on ``host:port`` (0: a free port) between ``__aenter__`` and ``__aexit__``.

    ``rate``/``burst``: the account may make ``burst`` requests at once, refilled at ``rate``
    per second (Route 53 allows 5/s); past that, 400 Throttling. ``insync_delay``: seconds a
    change stays PENDING.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        rate: float | None = None,
        burst: int = 5,
        insync_delay: float = 0.0,
    ) -> None:
        self._host = host
        self._port = port
        self.account = Account()
        limiter = RateLimiter(rate, burst) if rate else None
        self.api = Route53Api(self.account, limiter, insync_delay)
        self._stack = contextlib.AsyncExitStack()
        self._url: str | None = None

    async def __aenter__(self) -> Self:
        runner = web.AppRunner(self.api.app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        host, port = runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the emulator is not running")
        return self._url

    @property
    def requests(self) -> Counter[tuple[str, int]]:
        return self.api.requests

    def add_zone(self, name: str, *, private: bool = False) -> str:
        return self.account.add_zone(name, private=private).id

    def add_credentials(self, access_key: str, secret: str, token: str | None = None) -> None:
        self.api.credentials[access_key] = (secret, token)

    def rrsets(self, zone_id: str) -> dict[tuple[str, str], RecordSet]:
        return dict(self.account.zone(zone_id).rrsets)
