"""``Route53Emulator``: the emulated API on a loopback port, as an async context manager."""

from __future__ import annotations

from collections import Counter
from typing import Self

from controller.sandbox.route53.api import Route53Api
from controller.sandbox.route53.state import Account, RecordSet
from controller.sandbox.serving import LoopbackServer
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
        self.account = Account()
        limiter = RateLimiter(rate, burst) if rate else None
        self.api = Route53Api(self.account, limiter, insync_delay)
        self._server = LoopbackServer(host, port)

    async def __aenter__(self) -> Self:
        await self._server.start(self.api.app())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.stop()

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def requests(self) -> Counter[tuple[str, int]]:
        return self.api.requests

    def add_zone(self, name: str, *, private: bool = False) -> str:
        return self.account.add_zone(name, private=private).id

    def add_credentials(self, access_key: str, secret: str, token: str | None = None) -> None:
        self.api.credentials[access_key] = (secret, token)

    def rrsets(self, zone_id: str) -> dict[tuple[str, str], RecordSet]:
        return dict(self.account.zone(zone_id).rrsets)
