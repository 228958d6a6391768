"""The DNS world of the DNS-validation e2e tests: what public DNS answers for ``_<MD5>`` CNAMEs.

- :class:`CnameServer`: a UDP DNS server on loopback answering CNAME queries from a
  :data:`CnameLookup`; the emulated ZeroSSL checks CNAMEs there (``set_dns_server``) and the
  controller waits for propagation there (``ZEROSSL_ISSUER_DNS_RESOLVERS``).
- Lookups over each place records live: the Cloudflare and Route 53 emulators' zones (which do
  not answer DNS themselves), BIND9 (forwarded), and :class:`PublishedRecords`, which
  :class:`ExternalDNS` fills the way external-dns publishes DNSEndpoint objects.

Names are compared lowercase without the final dot; answers carry absolute targets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Final, Self

import aiohttp
import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import yaml

from controller.sandbox.cloudflare import CloudflareEmulator
from controller.sandbox.route53 import Route53Emulator
from controller.sandbox.stack import KubeAPI, KubeError, Stack
from controller.sandbox.stack.waiting import poll

CnameLookup = Callable[[str], Awaitable[str | None]]
"""The CNAME target of a name (lowercase, no final dot, both ways), or None."""

DNSENDPOINT_API_VERSION: Final = "externaldns.k8s.io/v1alpha1"
DNSENDPOINT_CRD: Final = (
    Path(__file__).parents[2] / "integration" / "issuer" / "solvers" / "dns" / "dnsendpoints.yaml"
)
ANSWER_TTL: Final = 60
FORWARD_TIMEOUT: Final = 2.0


def normalise(name: str) -> str:
    return name.strip().lower().rstrip(".")


# --- where records live --------------------------------------------------------------------


def cloudflare_cnames(cloudflare: CloudflareEmulator) -> CnameLookup:
    """CNAMEs in any zone of the Cloudflare emulator."""

    async def lookup(name: str) -> str | None:
        for zone in cloudflare.account.zones.values():
            for record in zone.records.values():
                if record.type == "CNAME" and record.name == name:
                    return normalise(record.content)
        return None

    return lookup


def route53_cnames(route53: Route53Emulator) -> CnameLookup:
    """CNAME record sets in any hosted zone of the Route 53 emulator."""

    async def lookup(name: str) -> str | None:
        for zone in route53.account.zones.values():
            rrset = zone.rrsets.get((name + ".", "CNAME"))
            if rrset is not None and rrset.values:
                return normalise(rrset.values[0])
        return None

    return lookup


def forwarded(host: str, port: int) -> CnameLookup:
    """What the DNS server at ``host:port`` (BIND9) answers; None also when it does not answer."""

    async def lookup(name: str) -> str | None:
        return await query_cname(host, port, name)

    return lookup


class PublishedRecords:
    """CNAMEs published by :class:`ExternalDNS`; ``ever`` keeps every name once published."""

    def __init__(self) -> None:
        self.current: dict[str, str] = {}
        self.ever: set[str] = set()

    def replace_all(self, records: Mapping[str, str]) -> None:
        self.current = {normalise(n): normalise(t) for n, t in records.items()}
        self.ever.update(self.current)

    async def lookup(self, name: str) -> str | None:
        return self.current.get(name)


def first_of(*lookups: CnameLookup) -> CnameLookup:
    """The first answer of ``lookups`` in order (each zone lives in exactly one of them)."""

    async def lookup(name: str) -> str | None:
        for each in lookups:
            if (target := await each(name)) is not None:
                return target
        return None

    return lookup


async def query_cname(host: str, port: int, name: str) -> str | None:
    """The CNAME target a DNS server answers for ``name`` (normalised), or None."""
    qname = dns.name.from_text(name)
    query = dns.message.make_query(qname, dns.rdatatype.CNAME)
    try:
        response = await dns.asyncquery.udp(query, host, timeout=FORWARD_TIMEOUT, port=port)
    except (dns.exception.DNSException, OSError):
        return None
    for rrset in response.answer:
        if rrset.name == qname and rrset.rdtype == dns.rdatatype.CNAME:
            return normalise(rrset[0].target.to_text())
    return None


# --- the server ----------------------------------------------------------------------------


class CnameServer:
    """``async with CnameServer(lookup) as server``: answers CNAME queries over UDP on
    ``server.address`` until the block ends. A name ``lookup`` does not know is NXDOMAIN; a
    query of another type gets an empty NOERROR; garbage is dropped. Each query is answered
    in its own task of the server's task group, so a slow lookup delays nobody else.
    ``answered`` keeps every name answered with a CNAME and the target given."""

    def __init__(self, lookup: CnameLookup, host: str = "127.0.0.1") -> None:
        self._lookup = lookup
        self._host = host
        self._exit = contextlib.AsyncExitStack()
        self._transport: asyncio.DatagramTransport | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self.answered: dict[str, str] = {}

    @property
    def address(self) -> str:
        """``host:port``, as resolver settings take it."""
        host, port = self.host_port
        return f"{host}:{port}"

    @property
    def host_port(self) -> tuple[str, int]:
        if self._transport is None:
            raise RuntimeError("the DNS server is not running")
        host, port = self._transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    async def __aenter__(self) -> Self:
        async with contextlib.AsyncExitStack() as stack:
            self._tasks = await stack.enter_async_context(asyncio.TaskGroup())
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Protocol(self._received), local_addr=(self._host, 0)
            )
            self._transport = transport
            stack.callback(transport.close)
            self._exit = stack.pop_all()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        exit_stack, self._exit = self._exit, contextlib.AsyncExitStack()
        await exit_stack.aclose()
        self._transport = self._tasks = None

    def _received(self, data: bytes, peer: tuple[str, int]) -> None:
        if self._tasks is not None:
            self._tasks.create_task(self._answer(data, peer))

    async def _answer(self, data: bytes, peer: tuple[str, int]) -> None:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if query.question:
            question = query.question[0]
            name = normalise(question.name.to_text())
            target = await self._lookup(name)
            if target is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype in (dns.rdatatype.CNAME, dns.rdatatype.ANY):
                self.answered[name] = target
                response.answer.append(
                    dns.rrset.from_text(question.name, ANSWER_TTL, "IN", "CNAME", target + ".")
                )
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(response.to_wire(), peer)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, received: Callable[[bytes, tuple[str, int]], None]) -> None:
        self._received = received

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._received(data, (str(addr[0]), int(addr[1])))


# --- external-dns ----------------------------------------------------------------------------


async def register_dnsendpoint_crd(stack: Stack, timeout: float = 10.0) -> None:
    """Install external-dns' DNSEndpoint CRD and wait until the API server serves the kind."""
    await stack.kube.apply(yaml.safe_load(DNSENDPOINT_CRD.read_text()))

    async def served() -> bool | None:
        with contextlib.suppress(LookupError):
            await stack.kube.resource(DNSENDPOINT_API_VERSION, "DNSEndpoint")
            return True
        return None

    await poll(served, timeout=timeout, describe=lambda: "DNSEndpoint is not served")


class ExternalDNS:
    """Plays an external-dns instance (``--source=crd --label-filter=<selector>``): every
    ``interval`` it lists the DNSEndpoints matching ``label_selector`` in all namespaces and
    makes ``records`` hold exactly their CNAME endpoints (added as objects appear, removed as
    they go). ``seen`` keeps every object it listed (the last version, by namespace/name);
    a failed listing is kept in ``last_error`` and retried next round."""

    def __init__(
        self,
        kube: KubeAPI,
        records: PublishedRecords,
        *,
        label_selector: str,
        interval: float = 0.1,
    ) -> None:
        self._kube = kube
        self._records = records
        self._selector = label_selector
        self._interval = interval
        self.seen: dict[str, dict[str, Any]] = {}
        self.last_error: Exception | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Self]:
        async with asyncio.TaskGroup() as group:
            task = group.create_task(self._loop())
            try:
                yield self
            finally:
                task.cancel()

    async def _loop(self) -> None:
        while True:
            try:
                await self.sync()
            except (KubeError, aiohttp.ClientError, TimeoutError) as error:
                self.last_error = error  # external-dns logs it and tries again next round
            await asyncio.sleep(self._interval)

    async def sync(self) -> None:
        objects = await self._kube.list_objects(
            DNSENDPOINT_API_VERSION, "DNSEndpoint", label_selector=self._selector
        )
        wanted: dict[str, str] = {}
        for obj in objects:
            meta = obj["metadata"]
            self.seen[f"{meta['namespace']}/{meta['name']}"] = obj
            if meta.get("deletionTimestamp"):
                continue
            for endpoint in (obj.get("spec") or {}).get("endpoints") or ():
                targets = endpoint.get("targets") or []
                if endpoint.get("recordType") == "CNAME" and targets:
                    wanted[str(endpoint["dnsName"])] = str(targets[0])
        self._records.replace_all(wanted)
