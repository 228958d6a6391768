"""``CloudflareEmulator``: the emulated API on a loopback port, as an async context manager."""

from __future__ import annotations

from collections import Counter
from typing import Self

from controller.sandbox.cloudflare.api import PREFIX, CloudflareApi
from controller.sandbox.cloudflare.state import Account, DnsRecord
from controller.sandbox.serving import LoopbackServer
from controller.sandbox.zerossl.ratelimit import RateLimiter


class CloudflareEmulator:
    """Serves on ``host:port`` (0: a free port) between ``__aenter__`` and ``__aexit__``.

    ``rate``/``burst``: each token may make ``burst`` requests at once, refilled at ``rate`` per
    second; past that, 429 with ``Retry-After`` (None: no limit).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        rate: float | None = None,
        burst: int = 10,
    ) -> None:
        self.account = Account()
        self.api = CloudflareApi(self.account, RateLimiter(rate, burst) if rate else None)
        self._server = LoopbackServer(host, port)

    async def __aenter__(self) -> Self:
        await self._server.start(self.api.app())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.stop()

    @property
    def url(self) -> str:
        """The API base, ending in ``/client/v4``."""
        return self._server.url + PREFIX

    @property
    def requests(self) -> Counter[tuple[str, str, int]]:
        return self.api.requests

    def add_zone(self, name: str) -> str:
        return self.account.add_zone(name).id

    def add_token(self, token: str, zones: set[str] | None = None) -> None:
        self.account.tokens[token] = frozenset(zones) if zones is not None else None

    def records(self, zone: str) -> list[DnsRecord]:
        found = self.account.zone_by_name(zone)
        if found is None:
            raise KeyError(zone)
        return list(found.records.values())
