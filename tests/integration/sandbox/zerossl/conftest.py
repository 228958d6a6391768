"""Fixtures for the ZeroSSL emulator tests: an emulator, a raw aiohttp client, CSRs, and the
little servers validation talks to (an HTTP file server and a CNAME-answering DNS server)."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import aiohttp
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
import yarl
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from controller.sandbox.zerossl import ZeroSSLEmulator

KEY = "test-access-key"


@functools.cache
def private_key(kind: str) -> Any:
    """One key per kind for the whole run: "ec256", "ec384", "ec521", "rsa2048", "rsa1024"..."""
    if kind.startswith("ec"):
        curve = {"ec256": ec.SECP256R1(), "ec384": ec.SECP384R1(), "ec521": ec.SECP521R1()}[kind]
        return ec.generate_private_key(curve)
    return rsa.generate_private_key(public_exponent=65537, key_size=int(kind.removeprefix("rsa")))


_FIRST = object()


def make_csr(
    names: Sequence[str],
    *,
    key: str = "ec256",
    cn: object = _FIRST,
    algorithm: hashes.HashAlgorithm | None = None,
) -> str:
    """A PEM CSR with ``names`` as SANs (IPs as IP SANs); CN = first name unless ``cn`` is given
    (None: no CN)."""
    common_name = names[0] if cn is _FIRST else cn
    subject = (
        [] if common_name is None else [x509.NameAttribute(NameOID.COMMON_NAME, str(common_name))]
    )
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject))
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    request = builder.sign(private_key(key), algorithm or hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Api:
    """Raw calls to the emulator: ``(http status, decoded JSON or text)``."""

    session: aiohttp.ClientSession
    base: str

    async def call(
        self,
        method: str,
        path: str,
        *,
        key: str | None = KEY,
        data: Any = None,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        query = dict(params or {})
        if key is not None:
            query["access_key"] = key
        async with self.session.request(
            method, self.base + path, params=query, data=data, json=json, headers=headers
        ) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call that must succeed (HTTP 200 without ``success: false``)."""
        status, body = await self.call(method, path, **kwargs)
        assert status == 200, body
        assert not (isinstance(body, dict) and body.get("success") is False), body
        return body

    async def error(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A call that must fail like ZeroSSL does: HTTP 200 and ``success: false``."""
        status, body = await self.call(method, path, **kwargs)
        assert status == 200, body
        assert body["success"] is False, body
        error: dict[str, Any] = body["error"]
        return error

    async def create(
        self, names: Sequence[str], *, key_kind: str = "ec256", key: str = KEY, **fields: str
    ) -> Any:
        data = {
            "certificate_domains": ",".join(names),
            "certificate_csr": make_csr(names, key=key_kind),
            "strict_domains": "1",
            **fields,
        }
        return await self.ok("POST", "/certificates", data=data, key=key)

    async def wait_status(
        self, certificate_id: str, status: str, *, key: str = KEY, timeout: float = 5.0
    ) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                body = await self.ok("GET", f"/certificates/{certificate_id}", key=key)
                if body["status"] == status:
                    return body
                await asyncio.sleep(0.01)


@pytest.fixture
async def emulator() -> AsyncIterator[ZeroSSLEmulator]:
    async with ZeroSSLEmulator(seed=7, dcv_timeout=2.0) as z:
        z.add_account(KEY)
        yield z


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def api(emulator: ZeroSSLEmulator, session: aiohttp.ClientSession) -> Api:
    return Api(session, emulator.url)


@dataclass
class FileServer:
    """Serves ``responses[(host, path)] = (status, body, headers)``; 404 for anything else."""

    port: int = 0
    responses: dict[tuple[str, str], tuple[int, bytes, dict[str, str]]] = field(
        default_factory=dict
    )
    hits: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0

    def serve(
        self, host: str, path: str, body: str | bytes, status: int = 200, **headers: str
    ) -> None:
        raw = body.encode() if isinstance(body, str) else body
        self.responses[(host, path)] = (status, raw, headers)

    async def handle(self, request: web.Request) -> web.Response:
        self.hits.append((request.host, request.path))
        await asyncio.sleep(self.delay)
        status, body, headers = self.responses.get((request.host, request.path), (404, b"", {}))
        return web.Response(status=status, body=body, headers=headers)


@pytest.fixture
async def file_server() -> AsyncIterator[FileServer]:
    server = FileServer()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    try:
        yield server
    finally:
        await runner.cleanup()


class DnsServer(asyncio.DatagramProtocol):
    """Answers CNAME queries from ``records`` (owner name -> target text, as a zone file would
    hold it: a target without final dot is relative to ``origin``); NXDOMAIN otherwise."""

    def __init__(self, origin: str = "example.com.") -> None:
        self.records: dict[str, str] = {}
        self.origin = dns.name.from_text(origin)
        self.port = 0
        self.queries: list[str] = []
        self._transport: asyncio.DatagramTransport | None = None

    def add(self, owner: str, target: str) -> None:
        self.records[owner.lower().rstrip(".") + "."] = target

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        self.queries.append(question.name.to_text())
        response = dns.message.make_response(query)
        target = self.records.get(question.name.to_text().lower())
        if target is None or question.rdtype != dns.rdatatype.CNAME:
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            absolute = dns.name.from_text(target, origin=self.origin)
            response.answer.append(
                dns.rrset.from_text(question.name, 60, "IN", "CNAME", absolute.to_text())
            )
        assert self._transport is not None
        self._transport.sendto(response.to_wire(), addr)


def serve_files(emulator: ZeroSSLEmulator, file_server: FileServer, created: Any) -> None:
    """Route all validation traffic to ``file_server`` and serve every domain's right file."""
    emulator.resolve_default("127.0.0.1", file_server.port)
    for entry in created["validation"]["other_methods"].values():
        url = yarl.URL(entry["file_validation_url_http"])
        assert url.host is not None
        file_server.serve(url.host, url.path, "\n".join(entry["file_validation_content"]))


async def verify_http(api: Api, certificate_id: str, *, key: str = KEY) -> Any:
    return await api.ok(
        "POST",
        f"/certificates/{certificate_id}/challenges",
        data={"validation_method": "HTTP_CSR_HASH"},
        key=key,
    )


async def issue(
    api: Api,
    emulator: ZeroSSLEmulator,
    file_server: FileServer,
    names: Sequence[str],
    *,
    key_kind: str = "ec256",
    key: str = KEY,
) -> Any:
    """Create, serve the validation files, verify over HTTP and wait until issued."""
    created = await api.create(names, key_kind=key_kind, key=key)
    serve_files(emulator, file_server, created)
    await verify_http(api, created["id"], key=key)
    return await api.wait_status(created["id"], "issued", key=key)


@pytest.fixture
async def dns_server() -> AsyncIterator[DnsServer]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        DnsServer, local_addr=("127.0.0.1", 0)
    )
    protocol.port = transport.get_extra_info("sockname")[1]
    try:
        yield protocol
    finally:
        transport.close()
