from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import generate_latest

from controller.observability import metrics
from controller.zerossl.client import RetryPolicy, ZeroSSLClient
from controller.zerossl.errors import ErrorKind, TransportError, ZeroSSLError
from controller.zerossl.limiter import LimiterRegistry, account_id
from controller.zerossl.models import CertificateStatus, RevocationReason, ValidationMethod
from tests.unit.zerossl.fake_zerossl import (
    NGINX_429,
    NGINX_502,
    FakeZeroSSL,
    error_answer,
    fake_zerossl,
    json_answer,
    raw_answer,
    slow_answer,
)
from tests.unit.zerossl.samples import certificate_json, make_csr

KEY = "zk-unit-6f1d0c9a8b7e4d3c2b1a0f9e8d7c6b5a"
CERT_ID = "a856a39a1c3ad0s8asa606g37667d221"
LEAF = "-----BEGIN CERTIFICATE-----\nTEVBRg==\n-----END CERTIFICATE-----\n"
CA = "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n"


@pytest.fixture
async def zerossl() -> AsyncIterator[FakeZeroSSL]:
    async with fake_zerossl() as fake:
        yield fake


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


def make_client(
    session: aiohttp.ClientSession,
    url: str,
    spans: InMemorySpanExporter,
    *,
    budget: float = 5.0,
) -> ZeroSSLClient:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    registry = LimiterRegistry(1000, 1000, default_pause=0.01)
    return ZeroSSLClient(
        session,
        KEY,
        registry.for_account(KEY),
        base_url=url,
        timeout=0.3,
        retry=RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01, budget=budget),
        tracer=provider.get_tracer("test"),
    )


@pytest.fixture
def client(
    zerossl: FakeZeroSSL, session: aiohttp.ClientSession, spans: InMemorySpanExporter
) -> ZeroSSLClient:
    return make_client(session, zerossl.url, spans)


def only_span(spans: InMemorySpanExporter) -> ReadableSpan:
    finished = spans.get_finished_spans()
    assert len(finished) == 1
    return finished[0]


# --- every endpoint, happy path ----------------------------------------------------------------


async def test_create_sends_form_with_intact_csr(
    client: ZeroSSLClient, zerossl: FakeZeroSSL
) -> None:
    csr = make_csr("example.com", ["www.example.com"])
    assert "+" in csr or "/" in csr  # base64 characters that raw form posting mangles
    zerossl.script(json_answer(certificate_json(id=CERT_ID)))
    cert = await client.create_certificate(["example.com", "www.example.com"], csr)
    assert cert.id == CERT_ID
    [request] = zerossl.requests
    assert (request.method, request.path) == ("POST", "/certificates")
    assert request.content_type == "application/x-www-form-urlencoded"
    assert request.query == {"access_key": KEY}
    assert request.form == {
        "certificate_domains": "example.com,www.example.com",
        "certificate_csr": csr,
        "certificate_validity_days": "90",
        "strict_domains": "1",
    }


async def test_create_with_options_and_bad_arguments(
    client: ZeroSSLClient, zerossl: FakeZeroSSL
) -> None:
    zerossl.script(json_answer(certificate_json(id=CERT_ID)))
    await client.create_certificate(
        ["example.com"], "pem", validity_days=365, strict_domains=False, replacement_for="abc123"
    )
    form = zerossl.requests[0].form
    assert form["certificate_validity_days"] == "365"
    assert form["replacement_for_certificate"] == "abc123"
    assert "strict_domains" not in form
    with pytest.raises(ValueError, match="90 or 365"):
        await client.create_certificate(["example.com"], "pem", validity_days=30)
    with pytest.raises(ValueError, match="non-empty"):
        await client.create_certificate([], "pem")
    with pytest.raises(ValueError, match="certificate id"):
        await client.get_certificate("../../etc")
    assert len(zerossl.requests) == 1


@pytest.mark.parametrize(
    ("method", "emails", "expected_form"),
    [
        (ValidationMethod.CNAME_CSR_HASH, (), {"validation_method": "CNAME_CSR_HASH"}),
        (ValidationMethod.HTTP_CSR_HASH, (), {"validation_method": "HTTP_CSR_HASH"}),
        (ValidationMethod.HTTPS_CSR_HASH, (), {"validation_method": "HTTPS_CSR_HASH"}),
        (
            ValidationMethod.EMAIL,
            ("admin@example.com", "admin@www.example.com"),
            {
                "validation_method": "EMAIL",
                "validation_email": "admin@example.com,admin@www.example.com",
            },
        ),
    ],
)
async def test_verify_each_method(
    client: ZeroSSLClient,
    zerossl: FakeZeroSSL,
    method: ValidationMethod,
    emails: tuple[str, ...],
    expected_form: dict[str, str],
) -> None:
    zerossl.script(json_answer(certificate_json(id=CERT_ID, status="pending_validation")))
    cert = await client.verify_domains(CERT_ID, method, emails=emails)
    assert cert.status is CertificateStatus.PENDING_VALIDATION
    [request] = zerossl.requests
    assert (request.method, request.path) == ("POST", f"/certificates/{CERT_ID}/challenges")
    assert request.form == expected_form


async def test_verify_email_needs_addresses(client: ZeroSSLClient) -> None:
    with pytest.raises(ValueError, match="EMAIL"):
        await client.verify_domains(CERT_ID, ValidationMethod.EMAIL)
    with pytest.raises(ValueError, match="EMAIL"):
        await client.verify_domains(CERT_ID, ValidationMethod.CNAME_CSR_HASH, emails=["a@b.c"])


async def test_get_status_download(client: ZeroSSLClient, zerossl: FakeZeroSSL) -> None:
    zerossl.script(
        json_answer(certificate_json(id=CERT_ID, status="issued")),
        json_answer({"validation_completed": 1, "details": {"example.com": {"status": "ok"}}}),
        json_answer({"certificate.crt": LEAF, "ca_bundle.crt": CA}),
    )
    assert (await client.get_certificate(CERT_ID)).status is CertificateStatus.ISSUED
    assert (await client.verification_status(CERT_ID)).completed
    bundle = await client.download(CERT_ID, include_cross_signed=True)
    assert bundle.chain_pem() == LEAF + CA
    assert [(r.method, r.path) for r in zerossl.requests] == [
        ("GET", f"/certificates/{CERT_ID}"),
        ("GET", f"/certificates/{CERT_ID}/status"),
        ("GET", f"/certificates/{CERT_ID}/download/return"),
    ]
    assert zerossl.requests[2].query == {"include_cross_signed": "1", "access_key": KEY}


async def test_a_download_goes_before_a_create_that_waited_longer(
    zerossl: FakeZeroSSL, session: aiohttp.ClientSession
) -> None:
    account = account_id(KEY)
    limiter = LimiterRegistry(20, 1).for_account(KEY)
    client = ZeroSSLClient(session, KEY, limiter, base_url=zerossl.url)
    waits = {
        p: metrics.zerossl_limiter_wait.labels(account=account, priority=p)._sum
        for p in ("start", "finish")
    }
    zerossl.script(
        json_answer({"certificate.crt": LEAF, "ca_bundle.crt": CA}),
        json_answer(certificate_json(id=CERT_ID)),
    )
    limiter.throttle(0.05)  # both calls queue; the pause ends with one token

    create = asyncio.create_task(
        client.create_certificate(["example.com"], make_csr("example.com"))
    )
    await asyncio.sleep(0.01)
    download = asyncio.create_task(client.download(CERT_ID))
    await asyncio.gather(create, download)

    assert [r.path for r in zerossl.requests] == [
        f"/certificates/{CERT_ID}/download/return",
        "/certificates",
    ]
    assert 0.02 < waits["finish"].get() < waits["start"].get()


async def test_cancel_revoke_resend(client: ZeroSSLClient, zerossl: FakeZeroSSL) -> None:
    zerossl.script(*(json_answer({"success": 1}) for _ in range(3)))
    await client.cancel(CERT_ID)
    await client.revoke(CERT_ID, RevocationReason.SUPERSEDED)
    await client.resend_verification_email(CERT_ID)
    assert [(r.method, r.path) for r in zerossl.requests] == [
        ("POST", f"/certificates/{CERT_ID}/cancel"),
        ("POST", f"/certificates/{CERT_ID}/revoke"),
        ("POST", f"/certificates/{CERT_ID}/challenges/email"),
    ]
    assert zerossl.requests[1].form == {"reason": "Superseded"}


async def test_validate_csr_invalid_is_an_answer_not_an_error(
    client: ZeroSSLClient, zerossl: FakeZeroSSL
) -> None:
    zerossl.script(json_answer({"valid": False, "error": "-10 The CSR cannot be decoded!; "}))
    check = await client.validate_csr("garbage")
    assert not check.valid
    assert check.error == "-10 The CSR cannot be decoded!;"
    assert zerossl.requests[0].form == {"csr": "garbage"}
    assert zerossl.requests[0].path == "/validation/csr"


async def test_list_filters_and_pagination(client: ZeroSSLClient, zerossl: FakeZeroSSL) -> None:
    ids = [f"c{i:03d}" for i in range(5)]
    zerossl.script(
        json_answer(
            {
                "total_count": 5,
                "page": "1",
                "limit": 2,
                "results": [certificate_json(id=i) for i in ids[:2]],
            }
        ),
        json_answer(
            {
                "total_count": 5,
                "page": 2,
                "limit": 2,
                "results": [certificate_json(id=i) for i in ids[2:4]],
            }
        ),
        json_answer(
            {"total_count": 5, "page": 3, "limit": 2, "results": [certificate_json(id=ids[4])]}
        ),
    )
    statuses = [CertificateStatus.DRAFT, CertificateStatus.PENDING_VALIDATION]
    found = [c.id async for c in client.iter_certificates(statuses, search="example.com", limit=2)]
    assert found == ids
    assert [r.query for r in zerossl.requests] == [
        {
            "certificate_status": "draft,pending_validation",
            "page": str(page),
            "limit": "2",
            "search": "example.com",
            "access_key": KEY,
        }
        for page in (1, 2, 3)
    ]
    with pytest.raises(ValueError, match="status"):
        await client.list_certificates([])
    with pytest.raises(ValueError, match="limit"):
        await client.list_certificates(statuses, limit=1001)


# --- error shapes and classes ------------------------------------------------------------------


async def test_http_200_with_success_false_is_classified(
    client: ZeroSSLClient, zerossl: FakeZeroSSL, spans: InMemorySpanExporter
) -> None:
    zerossl.script(error_answer(2817, "certificate_limit_reached"))
    with pytest.raises(ZeroSSLError) as caught:
        await client.create_certificate(["example.com"], "pem")
    error = caught.value
    assert (error.kind, error.code, error.type, error.http_status) == (
        ErrorKind.QUOTA,
        2817,
        "certificate_limit_reached",
        200,
    )
    assert error.endpoint == "create"
    span = only_span(spans)
    assert span.name == "zerossl.create"
    assert span.attributes is not None
    assert span.attributes["zerossl.error.code"] == 2817
    assert span.attributes["zerossl.error.type"] == "certificate_limit_reached"
    assert span.attributes["http.response.status_code"] == 200
    assert span.status.description == str(error)


async def test_dcv_failure_is_not_yet_with_details(
    client: ZeroSSLClient, zerossl: FakeZeroSSL
) -> None:
    details = {"example.com": {"example.com": {"cname_found": 0, "target_host": "_ABC"}}}
    zerossl.script(error_answer(0, "domain_control_validation_failed", details))
    with pytest.raises(ZeroSSLError) as caught:
        await client.verify_domains(CERT_ID, ValidationMethod.CNAME_CSR_HASH)
    assert caught.value.kind is ErrorKind.NOT_YET
    assert caught.value.details == details
    assert caught.value.certificate_id == CERT_ID
    assert "example.com: CNAME _ABC.example.com not found" in caught.value.explanation
    assert len(zerossl.requests) == 1  # writes are never retried


@pytest.mark.parametrize(
    ("code", "type_", "kind"),
    [
        (101, "invalid_access_key", ErrorKind.ISSUER),
        (2803, "certificate_not_found", ErrorKind.PERMANENT),
        (2831, "certificate_not_ready_to_validate", ErrorKind.NOT_YET),
    ],
)
async def test_non_retryable_errors_are_not_retried_even_on_reads(
    client: ZeroSSLClient, zerossl: FakeZeroSSL, code: int, type_: str, kind: ErrorKind
) -> None:
    zerossl.script(error_answer(code, type_))
    with pytest.raises(ZeroSSLError) as caught:
        await client.get_certificate(CERT_ID)
    assert caught.value.kind is kind
    assert len(zerossl.requests) == 1


async def test_html_429_without_retry_after_pauses_and_read_is_retried(
    client: ZeroSSLClient, zerossl: FakeZeroSSL, spans: InMemorySpanExporter
) -> None:
    throttled = metrics.zerossl_throttled.labels(account=account_id(KEY))
    before = throttled._value.get()
    zerossl.script(raw_answer(NGINX_429, 429), json_answer(certificate_json(id=CERT_ID)))
    cert = await client.get_certificate(CERT_ID)
    assert cert.id == CERT_ID
    assert len(zerossl.requests) == 2
    assert throttled._value.get() == before + 1
    span = only_span(spans)
    assert span.attributes is not None
    assert span.attributes["zerossl.attempts"] == 2
    assert span.attributes["zerossl.certificate_id"] == CERT_ID
    assert [e.name for e in span.events][:1] == ["zerossl.retry"]


async def test_429_with_retry_after_on_a_write_carries_it_and_pauses_the_account(
    client: ZeroSSLClient, zerossl: FakeZeroSSL
) -> None:
    zerossl.script(raw_answer(NGINX_429, 429, headers={"Retry-After": "7"}))
    with pytest.raises(ZeroSSLError) as caught:
        await client.create_certificate(["example.com"], "pem")
    assert caught.value.kind is ErrorKind.THROTTLED
    assert caught.value.retry_after == 7
    assert client._limiter.paused_for() > 6


async def test_retry_after_beyond_the_budget_is_not_waited_for(
    zerossl: FakeZeroSSL, session: aiohttp.ClientSession, spans: InMemorySpanExporter
) -> None:
    client = make_client(session, zerossl.url, spans, budget=1)
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    zerossl.script(raw_answer(NGINX_429, 429, headers={"Retry-After": when}))
    with pytest.raises(ZeroSSLError) as caught:
        await client.get_certificate(CERT_ID)
    assert caught.value.kind is ErrorKind.THROTTLED
    assert caught.value.retry_after == pytest.approx(120, abs=2)
    assert len(zerossl.requests) == 1


async def test_html_502_read_retried_write_not(client: ZeroSSLClient, zerossl: FakeZeroSSL) -> None:
    zerossl.script(raw_answer(NGINX_502, 502), json_answer(certificate_json(id=CERT_ID)))
    assert (await client.get_certificate(CERT_ID)).id == CERT_ID
    zerossl.script(raw_answer(NGINX_502, 502))
    with pytest.raises(ZeroSSLError) as caught:
        await client.cancel(CERT_ID)
    assert caught.value.kind is ErrorKind.RETRYABLE
    assert caught.value.http_status == 502
    assert "non-JSON body (text/html" in str(caught.value)
    assert len(zerossl.requests) == 3


async def test_retries_are_bounded(client: ZeroSSLClient, zerossl: FakeZeroSSL) -> None:
    before = metrics.zerossl_requests.labels(endpoint="download", outcome="retryable")._value.get()
    zerossl.script(*(raw_answer(NGINX_502, 502) for _ in range(5)))
    with pytest.raises(ZeroSSLError):
        await client.download(CERT_ID)
    assert len(zerossl.requests) == 3  # RetryPolicy.attempts
    after = metrics.zerossl_requests.labels(endpoint="download", outcome="retryable")._value.get()
    assert after == before + 3


async def test_timeout_is_a_retryable_transport_error(
    client: ZeroSSLClient, zerossl: FakeZeroSSL
) -> None:
    zerossl.script(slow_answer(2), slow_answer(2))
    with pytest.raises(TransportError) as caught:
        await client.revoke(CERT_ID)
    assert caught.value.kind is ErrorKind.RETRYABLE
    assert "no answer within 0.3s" in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


async def test_truncated_json_and_missing_fields(
    client: ZeroSSLClient, zerossl: FakeZeroSSL
) -> None:
    zerossl.script(raw_answer(b'{"id": "abc", "status": "dra', 200, "application/json"))
    with pytest.raises(ZeroSSLError, match="non-JSON body") as caught:
        await client.verify_domains(CERT_ID, ValidationMethod.HTTP_CSR_HASH)
    assert caught.value.kind is ErrorKind.RETRYABLE
    zerossl.script(json_answer({"status": "draft"}))
    with pytest.raises(ZeroSSLError, match="without an id") as caught:
        await client.create_certificate(["example.com"], "pem")
    assert caught.value.kind is ErrorKind.RETRYABLE
    zerossl.script(json_answer({"success": 0}))
    with pytest.raises(ZeroSSLError) as caught:
        await client.cancel(CERT_ID)
    assert caught.value.kind is ErrorKind.RETRYABLE


async def test_redirects_are_not_followed(client: ZeroSSLClient, zerossl: FakeZeroSSL) -> None:
    location = f"https://api.zerossl.com/certificates?access_key={KEY}"
    zerossl.script(raw_answer(b"", 301, headers={"Location": location}))
    with pytest.raises(ZeroSSLError) as caught:
        await client.create_certificate(["example.com"], "pem")
    assert caught.value.http_status == 301
    assert len(zerossl.requests) == 1


async def test_connection_refused(
    session: aiohttp.ClientSession, spans: InMemorySpanExporter
) -> None:
    async with fake_zerossl() as gone:
        url = gone.url
    client = make_client(session, url, spans)
    with pytest.raises(TransportError, match="ClientConnectorError"):
        await client.cancel(CERT_ID)


# --- the key never leaks -----------------------------------------------------------------------


async def test_key_never_appears_in_logs_exceptions_spans_or_metrics(
    client: ZeroSSLClient,
    zerossl: FakeZeroSSL,
    spans: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    csr = make_csr("example.com")
    failures = [
        error_answer(101, "invalid_access_key"),
        error_answer(
            0, "domain_control_validation_failed", {"example.com": {"x": {"error_slug": "timeout"}}}
        ),
        error_answer(2817, "certificate_limit_reached"),
        raw_answer(NGINX_429, 429, headers={"Retry-After": "0"}),
        raw_answer(NGINX_502, 502),
        raw_answer(b"{trunc", 200, "application/json"),
        raw_answer(
            f"<a href='?access_key={KEY}'>moved</a>".encode(),
            301,
            headers={"Location": f"/?access_key={KEY}"},
        ),
    ]
    calls = [
        lambda: client.create_certificate(["example.com"], csr),
        lambda: client.verify_domains(CERT_ID, ValidationMethod.CNAME_CSR_HASH),
        lambda: client.get_certificate(CERT_ID),
        lambda: client.list_certificates([CertificateStatus.DRAFT]),
        lambda: client.verification_status(CERT_ID),
        lambda: client.download(CERT_ID),
        lambda: client.cancel(CERT_ID),
        lambda: client.revoke(CERT_ID),
        lambda: client.resend_verification_email(CERT_ID),
        lambda: client.validate_csr(csr),
    ]
    slow = slow_answer(2)
    texts: list[str] = []
    for answer, subset in [*((a, calls) for a in failures), (slow, calls[1:3])]:
        for call in subset:
            zerossl.answers.clear()
            zerossl.script(answer, answer, answer)
            try:
                await call()
            except ZeroSSLError as error:
                texts += [str(error), repr(error), error.explanation, *map(str, error.args)]
    assert len(texts) >= (len(failures) * len(calls) + 2) * 4 - 40  # nearly every call failed
    texts += [record.getMessage() for record in caplog.records]
    texts.append(caplog.text)
    for span in spans.get_finished_spans():
        texts.append(span.to_json())
    texts.append(generate_latest(metrics.registry).decode())
    assert any("access_key=REDACTED" in t for t in texts)
    leaks = [t for t in texts if KEY in t]
    assert leaks == []
