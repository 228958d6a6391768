"""One DNS server reached directly: ``host`` or ``host:port``, parsed and resolved.

Invariants: parsing needs no DNS library (specs are checked without loading dnspython: queries
live in :mod:`controller.issuer.solvers.dns.exchange`); resolving a host name is bounded by its
timeout and never blocks the event loop (the loop's ``getaddrinfo``); failures are retryable
:class:`TransportError`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

from controller.issuer.solvers.dns.errors import InvalidSolverSpec, TransportError

DNS_PORT = 53


@dataclass(frozen=True, slots=True)
class Nameserver:
    host: str
    port: int = DNS_PORT

    @classmethod
    def parse(cls, text: str) -> Nameserver:
        """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address."""
        raw = text.strip()
        host, port = raw, str(DNS_PORT)
        if raw.startswith("["):
            host, sep, rest = raw[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise InvalidSolverSpec(f"nameserver {text!r} is not [address]:port")
            port = rest[1:] or port
        elif raw.count(":") == 1:
            host, _, port = raw.partition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidSolverSpec(f"nameserver {text!r} is not host or host:port")
        return cls(host, int(port))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    async def address(self, timeout: float) -> str:
        """The IP address to send to: the host itself, or its first address."""
        try:
            return str(ipaddress.ip_address(self.host))
        except ValueError:
            pass
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        except TimeoutError:
            raise TransportError(f"resolving nameserver {self} took over {timeout:g}s") from None
        except OSError as error:
            raise TransportError(f"cannot resolve nameserver {self}: {error}") from None
        if not infos:
            raise TransportError(f"nameserver {self} has no address")
        return str(infos[0][4][0])
