"""The ZeroSSL client against the emulated ZeroSSL: every endpoint and every error class."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import generate_latest

from controller.observability import metrics
from controller.sandbox.zerossl import EndpointFaults, Faults, ZeroSSLEmulator
from controller.zerossl.client import RetryPolicy, ZeroSSLClient
from controller.zerossl.csr import CsrInfo, inspect_csr
from controller.zerossl.errors import ErrorKind, TransportError, ZeroSSLError
from controller.zerossl.limiter import LimiterRegistry, account_id
from controller.zerossl.models import Certificate, CertificateStatus, ValidationMethod
from tests.unit.zerossl.samples import make_csr

pytestmark = pytest.mark.integration

KEY = "zk-emulated-0b9a8c7d6e5f4a3b2c1d0e9f8a7b6c5d"


@dataclass
class ValidationFiles:
    """The HTTP side of file validation: serves whatever the test publishes."""

    port: int = 0
    files: dict[str, str] = field(default_factory=dict)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        body = self.files.get(request.path)
        return web.Response(text=body) if body is not None else web.Response(status=404)


@dataclass
class Env:
    emulator: ZeroSSLEmulator
    files: ValidationFiles
    session: aiohttp.ClientSession
    spans: InMemorySpanExporter
    registry: LimiterRegistry

    def client(self, key: str = KEY, **kw: Any) -> ZeroSSLClient:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.spans))
        options: dict[str, Any] = {
            "base_url": self.emulator.url,
            "timeout": 2.0,
            "retry": RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, budget=10),
            "tracer": provider.get_tracer("it"),
        }
        options.update(kw)
        return ZeroSSLClient(self.session, key, self.registry.for_account(key), **options)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    files = ValidationFiles()
    app = web.Application()
    app.router.add_get("/{tail:.*}", files.serve)
    server = TestServer(app)
    await server.start_server(access_log=None)
    assert server.port is not None
    files.port = server.port
    try:
        async with (
            ZeroSSLEmulator(issuance_delay="zero", dcv_timeout=2.0) as emulator,
            aiohttp.ClientSession() as session,
        ):
            emulator.add_account(KEY)
            emulator.resolve_default("127.0.0.1", files.port)
            yield Env(emulator, files, session, InMemorySpanExporter(), LimiterRegistry(200, 50))
    finally:
        await server.close()


def csr_for(*domains: str) -> CsrInfo:
    return inspect_csr(make_csr(domains[0], list(domains)))


def publish(env: Env, certificate: Certificate) -> None:
    for validation in certificate.validations:
        assert validation.file_path is not None
        env.files.files[validation.file_path] = validation.file_body


async def wait_for(
    check: Callable[[], Awaitable[Certificate]], status: CertificateStatus
) -> Certificate:
    for _ in range(200):
        certificate = await check()
        if certificate.status is status:
            return certificate
        await asyncio.sleep(0.02)
    raise AssertionError(f"never reached {status}")


async def expect(kind: ErrorKind, call: Awaitable[Any]) -> ZeroSSLError:
    with pytest.raises(ZeroSSLError) as caught:
        await call
    assert caught.value.kind is kind, str(caught.value)
    return caught.value


# --- happy paths, every endpoint ---------------------------------------------------------------


async def test_http_validation_lifecycle(env: Env) -> None:
    client = env.client()
    info = csr_for("app.example.com", "www.app.example.com")
    check = await client.validate_csr(info.pem)
    assert check.valid, check.error

    draft = await client.create_certificate(info.domains, info.pem)
    assert draft.status is CertificateStatus.DRAFT
    assert draft.domains == info.domains
    # Our CSR hashes predict the emulator's validation names, so drafts can be matched.
    assert info.hashes.matches(draft)
    for domain in info.domains:
        validation = draft.validation_for(domain)
        assert validation is not None
        assert validation.file_path == info.hashes.http_path
        assert validation.cname_name == info.hashes.cname_name(domain)

    publish(env, draft)
    pending = await client.verify_domains(draft.id, ValidationMethod.HTTP_CSR_HASH)
    assert pending.status is CertificateStatus.PENDING_VALIDATION
    issued = await wait_for(lambda: client.get_certificate(draft.id), CertificateStatus.ISSUED)
    assert issued.expires is not None

    bundle = await client.download(draft.id)
    chain = x509.load_pem_x509_certificates(bundle.chain_pem().encode())
    assert len(chain) == 2
    sans = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == sorted(info.domains)
    crossed = await client.download(draft.id, include_cross_signed=True)
    assert len(x509.load_pem_x509_certificates(crossed.chain_pem().encode())) == 3

    page = await client.list_certificates([CertificateStatus.ISSUED], search="app.example.com")
    assert [c.id for c in page.results] == [draft.id]

    await client.revoke(draft.id)
    assert (await client.get_certificate(draft.id)).status is CertificateStatus.REVOKED


async def test_email_validation_status_and_resend(env: Env) -> None:
    client = env.client()
    info = csr_for("mail.example.com")
    draft = await client.create_certificate(info.domains, info.pem)
    await client.verify_domains(draft.id, ValidationMethod.EMAIL, emails=["admin@mail.example.com"])
    status = await client.verification_status(draft.id)
    assert not status.completed
    await client.resend_verification_email(draft.id)
    assert env.emulator.certificate(draft.id).emails_sent == 2
    env.emulator.approve_email(draft.id)
    await wait_for(lambda: client.get_certificate(draft.id), CertificateStatus.ISSUED)
    assert (await client.verification_status(draft.id)).completed


async def test_pagination_and_cancel(env: Env) -> None:
    client = env.client()
    ids = []
    for _ in range(5):
        info = csr_for("many.example.com")
        ids.append((await client.create_certificate(info.domains, info.pem)).id)
    listed = [
        c.id
        async for c in client.iter_certificates(
            [CertificateStatus.DRAFT], search="many.example.com", limit=2
        )
    ]
    assert sorted(listed) == sorted(ids)
    assert env.emulator.request_log.counts_by_endpoint()["list"] == 3
    for certificate_id in ids:
        await client.cancel(certificate_id)
    page = await client.list_certificates([CertificateStatus.CANCELLED], limit=10)
    assert page.total_count == 5
    # Cancelling twice: ZeroSSL's observed code 2834 with the type of 2833 -> permanent.
    error = await expect(ErrorKind.PERMANENT, client.cancel(ids[0]))
    assert (error.code, error.type) == (2834, "certificate_cannot_be_cancelled")


async def test_a_draft_whose_answer_was_lost_is_found_again_by_csr_hash(env: Env) -> None:
    client = env.client()
    info = csr_for("lost.example.com")
    other = csr_for("lost.example.com")
    await client.create_certificate(other.domains, other.pem)
    env.emulator.faults = Faults(
        endpoints={"create": EndpointFaults(server_error_rate=1.0, after_effect=True)}
    )
    await expect(ErrorKind.RETRYABLE, client.create_certificate(info.domains, info.pem))
    env.emulator.faults = Faults()
    drafts = [
        c
        async for c in client.iter_certificates(
            [CertificateStatus.DRAFT, CertificateStatus.PENDING_VALIDATION],
            search=info.common_name,
        )
    ]
    assert len(drafts) == 2
    adopted = [c for c in drafts if info.hashes.matches(c)]
    assert len(adopted) == 1
    assert env.emulator.certificate(adopted[0].id).csr_md5 == info.hashes.md5


# --- every error class -------------------------------------------------------------------------


async def test_issuer_errors(env: Env) -> None:
    await expect(ErrorKind.ISSUER, env.client("zk-unknown-key-123456").get_certificate("abc"))
    env.emulator.add_account("zk-inactive-key-123456", active=False)
    error = await expect(
        ErrorKind.ISSUER,
        env.client("zk-inactive-key-123456").list_certificates([CertificateStatus.ISSUED]),
    )
    assert (error.code, error.type) == (102, "inactive_user")


async def test_quota(env: Env) -> None:
    env.emulator.add_account("zk-free-plan-key-123456", quota=1, paid=False)
    client = env.client("zk-free-plan-key-123456")
    first = csr_for("one.example.com")
    await client.create_certificate(first.domains, first.pem)
    second = csr_for("two.example.com")
    error = await expect(ErrorKind.QUOTA, client.create_certificate(second.domains, second.pem))
    assert error.code == 2817


async def test_permanent_errors(env: Env) -> None:
    client = env.client()
    error = await expect(ErrorKind.PERMANENT, client.get_certificate("0000deadbeef"))
    assert error.code == 2803
    info = csr_for("perm.example.com")
    draft = await client.create_certificate(info.domains, info.pem)
    error = await expect(ErrorKind.PERMANENT, client.verification_status(draft.id))
    assert error.code == 2838
    # Domains that do not match the CSR: ZeroSSL rejects the CSR.
    await expect(ErrorKind.PERMANENT, client.create_certificate(["other.example.com"], info.pem))
    wildcard = inspect_csr(make_csr("*.example.com", ["*.example.com"]))
    error = await expect(
        ErrorKind.PERMANENT,
        client.create_certificate([*wildcard.domains, "x.example.com"], wildcard.pem),
    )
    assert error.code in {2809, 2818}


async def test_not_yet_errors(env: Env) -> None:
    client = env.client()
    info = csr_for("pending.example.com")
    draft = await client.create_certificate(info.domains, info.pem)
    error = await expect(
        ErrorKind.NOT_YET, client.verify_domains(draft.id, ValidationMethod.HTTP_CSR_HASH)
    )
    assert error.code == 0
    assert "pending.example.com: file http://pending.example.com/" in error.explanation
    assert "bad_response_code (Server responded with status code: 404)" in error.explanation
    error = await expect(
        ErrorKind.NOT_YET, client.verify_domains(draft.id, ValidationMethod.CNAME_CSR_HASH)
    )
    assert f"CNAME _{info.hashes.md5}.pending.example.com not found" in error.explanation
    error = await expect(ErrorKind.NOT_YET, client.download(draft.id))
    assert error.code == 2832
    env.emulator.forbid_caa("example.com")
    error = await expect(
        ErrorKind.NOT_YET, client.verify_domains(draft.id, ValidationMethod.HTTP_CSR_HASH)
    )
    assert error.code == 2840
    assert "pending.example.com: CAA records must allow sectigo.com" in error.explanation


async def test_retryable_faults(env: Env) -> None:
    client = env.client(timeout=0.5)
    info = csr_for("faulty.example.com")
    draft = await client.create_certificate(info.domains, info.pem)
    log = env.emulator.request_log

    env.emulator.faults = Faults(endpoints={"get": EndpointFaults(server_error_rate=1.0)})
    log.clear()
    error = await expect(ErrorKind.RETRYABLE, client.get_certificate(draft.id))
    assert error.http_status == 503
    assert log.counts_by_endpoint()["get"] == 3  # retried up to RetryPolicy.attempts

    env.emulator.faults = Faults(endpoints={"verify": EndpointFaults(internal_error_rate=1.0)})
    log.clear()
    error = await expect(
        ErrorKind.RETRYABLE, client.verify_domains(draft.id, ValidationMethod.HTTP_CSR_HASH)
    )
    assert error.code == 111
    assert log.counts_by_endpoint()["verify"] == 1  # writes are not retried

    env.emulator.faults = Faults(
        endpoints={"cancel": EndpointFaults(timeout_rate=1.0)}, hang_seconds=1.5
    )
    with pytest.raises(TransportError, match=r"no answer within 0\.5s"):
        await client.cancel(draft.id)
    env.emulator.faults = Faults()


async def test_throttling_pauses_the_account_and_reads_recover() -> None:
    async with (
        ZeroSSLEmulator(rate_limit=5, rate_burst=2, retry_after=1) as emulator,
        aiohttp.ClientSession() as session,
    ):
        emulator.add_account(KEY)
        env = Env(
            emulator, ValidationFiles(), session, InMemorySpanExporter(), LimiterRegistry(100, 20)
        )
        eager = env.client(
            retry=RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05, budget=10),
        )
        results = await asyncio.gather(
            *(eager.list_certificates([CertificateStatus.DRAFT]) for _ in range(4)),
            eager.cancel("abc123"),
            return_exceptions=True,
        )
        throttled = [r for r in results if isinstance(r, ZeroSSLError)]
        # Reads waited out the pause and succeeded; the write reports THROTTLED (or, if it
        # slipped in first, the emulator's not-found).
        assert sum(1 for r in results if not isinstance(r, BaseException)) == 4
        assert len(throttled) == 1
        assert throttled[0].kind in {ErrorKind.THROTTLED, ErrorKind.PERMANENT}
        statuses = [r.status for r in emulator.request_log.entries()]
        assert 429 in statuses
        assert metrics.zerossl_throttled.labels(account=account_id(KEY))._value.get() >= 1

        # A limiter matching the server's rate never provokes a 429.
        polite = ZeroSSLClient(
            session,
            KEY,
            LimiterRegistry(4, 2).for_account(KEY),
            base_url=emulator.url,
        )
        await asyncio.sleep(0.5)  # let the server's bucket refill
        emulator.request_log.clear()
        await asyncio.gather(
            *(polite.list_certificates([CertificateStatus.DRAFT]) for _ in range(5))
        )
        assert [r.status for r in emulator.request_log.entries()] == [200] * 5


# --- the key never leaks -----------------------------------------------------------------------


async def test_key_never_leaks_across_a_full_run(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = env.client(timeout=0.5)
    texts: list[str] = []

    async def run(call: Awaitable[Any]) -> None:
        try:
            await call
        except ZeroSSLError as error:
            texts.extend([str(error), repr(error), error.explanation])

    info = csr_for("leak.example.com")
    await run(client.validate_csr(info.pem))
    draft = await client.create_certificate(info.domains, info.pem)
    await run(client.verify_domains(draft.id, ValidationMethod.CNAME_CSR_HASH))  # NOT_YET
    await run(client.download(draft.id))  # NOT_YET 2832
    await run(client.verification_status(draft.id))  # PERMANENT 2838
    await run(client.resend_verification_email(draft.id))  # PERMANENT-ish 2837
    publish(env, draft)
    await client.verify_domains(draft.id, ValidationMethod.HTTP_CSR_HASH)
    await wait_for(lambda: client.get_certificate(draft.id), CertificateStatus.ISSUED)
    await client.download(draft.id)
    await client.list_certificates([CertificateStatus.ISSUED])
    await client.revoke(draft.id)
    await run(client.cancel(draft.id))  # 2833
    await run(env.client("zk-unknown-key-654321").get_certificate(draft.id))  # ISSUER
    env.emulator.faults = Faults(
        endpoints={
            "get": EndpointFaults(server_error_rate=1.0),
            "cancel": EndpointFaults(timeout_rate=1.0),
        },
        hang_seconds=1.5,
    )
    await run(client.get_certificate(draft.id))  # RETRYABLE 503, retried
    await run(client.cancel(draft.id))  # RETRYABLE timeout
    env.emulator.faults = Faults()
    assert len(texts) >= 8

    texts += [record.getMessage() for record in caplog.records]
    texts.append(caplog.text)
    texts += [span.to_json() for span in env.spans.get_finished_spans()]
    texts.append(generate_latest(metrics.registry).decode())
    assert len(env.spans.get_finished_spans()) >= 15  # one per call above
    assert [t for t in texts if KEY in t] == []
