"""One DNS server reached directly (``host`` or ``host:port``), with failures classified.

Invariants: every exchange is bounded by its timeout and never blocks the event loop (host
names resolve through the loop's ``getaddrinfo``); timeouts, unreachable servers and garbled
answers become retryable :class:`TransportError`; a TSIG rejection becomes
:class:`AuthenticationFailed`. The caller judges the answer's rcode.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.message
import dns.tsig

from controller.issuer.solvers.dns.errors import (
    AuthenticationFailed,
    InvalidSolverSpec,
    TransportError,
)

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

    async def exchange(
        self, query: dns.message.Message, *, timeout: float, tcp: bool = False
    ) -> dns.message.Message:
        """The server's answer to ``query`` (over TCP, or UDP falling back to TCP)."""
        where = await self.address(timeout)
        try:
            if tcp:
                return await dns.asyncquery.tcp(query, where, timeout=timeout, port=self.port)
            answer, _ = await dns.asyncquery.udp_with_fallback(
                query, where, timeout=timeout, port=self.port
            )
            return answer
        except dns.exception.Timeout:
            raise TransportError(f"no answer from nameserver {self} within {timeout:g}s") from None
        except (dns.tsig.PeerError, dns.tsig.BadSignature, dns.message.UnknownTSIGKey) as error:
            raise AuthenticationFailed(_tsig_problem(self, query, error)) from None
        except OSError as error:
            raise TransportError(f"cannot reach nameserver {self}: {error}") from None
        except dns.exception.DNSException as error:
            raise TransportError(f"bad answer from nameserver {self}: {error}") from None


def _tsig_problem(server: Nameserver, query: dns.message.Message, error: Exception) -> str:
    key = query.keyname.to_text() if query.keyname is not None else "(none)"
    if isinstance(error, dns.tsig.PeerBadKey):
        return f"nameserver {server} does not know TSIG key {key} (BADKEY): check tsigKeyName"
    if isinstance(error, dns.tsig.PeerBadTime):
        return f"nameserver {server} rejected TSIG key {key} for clock skew (BADTIME)"
    if isinstance(error, dns.tsig.PeerError):
        return (
            f"nameserver {server} rejected the signature of TSIG key {key} (BADSIG): "
            "check the TSIG secret and tsigAlgorithm"
        )
    return f"the answer of nameserver {server} failed TSIG verification with key {key}"
