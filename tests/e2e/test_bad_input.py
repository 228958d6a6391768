"""End to end: every bad CertificateRequest, against the real controller process and the
emulated ZeroSSL. What can never be issued fails with a specific Event reason and a message
saying what to change, without a ZeroSSL call; what the user can still fix (a missing issuer,
a solver that cannot validate a name) stays Pending with the reason and proceeds once fixed.
Issuer and account problems are in test_bad_input_issuer.py."""

from __future__ import annotations

import base64
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta

import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from controller.sandbox.stack import KubeError, Stack, issuer_ref, make_csr
from controller.sandbox.stack.cluster import ISSUER_API_VERSION
from tests.conftest import KubeWorld
from tests.e2e.support import E2E_NAMESPACE
from tests.e2e.support.issuance import (
    HTTP_SOLVER,
    JSON,
    WAIT,
    calls_since,
    certificates_for,
    create_issuer,
    get_order,
    issued_chain,
    log_mark,
    module_stack,
    ready_condition,
    reported,
    san_names,
    wait_for_certificate,
    wait_for_event,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

ISSUER = "bad-input"
REF = issuer_ref("ZeroSSLIssuer", ISSUER)
DOMAIN = "bad.zerossl-issuer.dev"
EMAIL_SOLVER: JSON = {"email": {}}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(kube_world: KubeWorld) -> AsyncIterator[Stack]:
    async with module_stack(kube_world) as running:
        await running.cluster.create_api_key_secret(E2E_NAMESPACE)
        await create_issuer(running, ISSUER)
        await running.cluster.wait_for_issuer("ZeroSSLIssuer", ISSUER, E2E_NAMESPACE, timeout=WAIT)
        yield running


@pytest.fixture(autouse=True)
def _report(request: pytest.FixtureRequest, stack: Stack) -> Iterator[None]:
    yield from reported(request, stack)


# --- CSRs ZeroSSL would refuse ------------------------------------------------------------------

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def csr_with_key(key: Key, name: str = f"key.{DOMAIN}") -> bytes:
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, algorithm)
    )
    return request.public_bytes(Encoding.PEM)


def pem_block(der: bytes) -> bytes:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return (
        f"-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n"
    ).encode()


def mis_signed() -> bytes:
    """A CSR whose signature's last byte was flipped: well-formed, but not signed by its key."""
    der = x509.load_pem_x509_csr(make_csr([f"signed.{DOMAIN}"], key="rsa")).public_bytes(
        Encoding.DER
    )
    return pem_block(der[:-1] + bytes([der[-1] ^ 0x01]))


def csr_of(common_name: str, *sans: x509.GeneralName) -> bytes:
    """A P-256 CSR with exactly this subject and these SANs (of any type)."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    key = ec.generate_private_key(ec.SECP256R1())
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.PEM)


def many_names(count: int, prefix: str = "n") -> list[str]:
    return [f"{prefix}{i}.{DOMAIN}" for i in range(count)]


REFUSED: list[tuple[str, Callable[[], bytes], str, str]] = [
    (
        "too-many-names",
        lambda: make_csr(many_names(150)),
        "TooManyNames",
        "the CSR has 150 distinct names; a ZeroSSL certificate order takes at most 100 (split "
        "them over several Certificates)",
    ),
    (
        "csr-too-large",
        lambda: make_csr(many_names(700, "x" * 30)),
        "RequestTooLarge",
        "the CSR is ",
    ),
    (
        "email-san",
        lambda: csr_of(
            f"mail.{DOMAIN}", x509.DNSName(f"mail.{DOMAIN}"), x509.RFC822Name("admin@x.org")
        ),
        "UnsupportedSan",
        "email address SANs are not supported: admin@x.org; ZeroSSL certifies only DNS names "
        "and IPv4 addresses",
    ),
    (
        "uri-san",
        lambda: csr_of(
            f"uri.{DOMAIN}",
            x509.DNSName(f"uri.{DOMAIN}"),
            x509.UniformResourceIdentifier("spiffe://x.org/a"),
        ),
        "UnsupportedSan",
        "URI SANs are not supported: spiffe://x.org/a",
    ),
    (
        "idn",
        lambda: csr_of(f"bücher.{DOMAIN}"),
        "InternationalizedName",
        f"bücher.{DOMAIN}: internationalized names must be written in their xn-- (punycode) "
        f"form: use xn--bcher-kva.{DOMAIN} in the Certificate",
    ),
    (
        "not-pem",
        lambda: b"this is not a certificate signing request\n",
        "Malformed",
        "the request is not a PEM certificate signing request",
    ),
    (
        "undecodable",
        lambda: pem_block(b"not DER at all"),
        "Malformed",
        "the CSR cannot be decoded",
    ),
    ("mis-signed", mis_signed, "BadSignature", "the CSR signature does not match its public key"),
    (
        "rsa-1024",
        lambda: csr_with_key(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
        "UnsupportedKey",
        "RSA 1024-bit keys are not accepted by ZeroSSL; use 2048 or 4096 bits",
    ),
    (
        "ec-p521",
        lambda: csr_with_key(ec.generate_private_key(ec.SECP521R1())),
        "UnsupportedKey",
        "ECDSA curve secp521r1 is not accepted by ZeroSSL; use P-256 or P-384",
    ),
    (
        "ed25519",
        lambda: csr_with_key(ed25519.Ed25519PrivateKey.generate()),
        "UnsupportedKey",
        "Ed25519 keys are not accepted by ZeroSSL; use RSA 2048/4096 or ECDSA P-256/P-384",
    ),
    (
        "no-common-name",
        lambda: make_csr([f"nocn.{DOMAIN}"], common_name=None),
        "MissingCommonName",
        "the CSR has no common name; ZeroSSL needs the first domain as the common name "
        "(set commonName on the Certificate)",
    ),
    (
        "common-name-not-a-name",
        lambda: make_csr([f"a.{DOMAIN}", f"b.{DOMAIN}"], common_name=f"c.{DOMAIN}"),
        "CommonNameNotInNames",
        f"the CSR's common name c.{DOMAIN} is not among its subject alternative names; list it "
        "in dnsNames (or ipAddresses) of the Certificate too",
    ),
    (
        "wildcard-and-others",
        lambda: make_csr([f"*.{DOMAIN}", f"www.{DOMAIN}"]),
        "WildcardNotAlone",
        f"*.{DOMAIN}: a wildcard must be the only name in a ZeroSSL certificate (2809), but the "
        "CSR has 2",
    ),
    (
        "ipv6",
        lambda: make_csr([], ["2001:db8::1"]),
        "Ipv6",
        "2001:db8::1: ZeroSSL does not issue for IPv6 addresses (2843)",
    ),
    (
        "ipv6-among-names",
        lambda: make_csr([f"v6.{DOMAIN}"], ["2001:db8::2"]),
        "Ipv6",
        "2001:db8::2: ZeroSSL does not issue for IPv6 addresses (2843)",
    ),
    (
        "reserved-tld",
        lambda: make_csr(["printer.office.local"]),
        "UnsupportedTopLevelDomain",
        "printer.office.local: ZeroSSL does not issue for reserved top-level domains (2877)",
    ),
]


@pytest.mark.parametrize(
    ("name", "csr", "reason", "message"), REFUSED, ids=[case[0] for case in REFUSED]
)
async def test_request_zerossl_would_refuse_fails_without_calling_it(
    stack: Stack, name: str, csr: Callable[[], bytes], reason: str, message: str
) -> None:
    mark = log_mark(stack)

    await stack.cluster.create_certificate_request(E2E_NAMESPACE, name, csr(), REF)
    request = await stack.cluster.wait_for_request(
        E2E_NAMESPACE, name, status="False", reason="Failed", timeout=WAIT
    )

    ready = ready_condition(request)
    assert ready["message"].startswith(message)
    assert request["status"]["failureTime"]
    assert "certificate" not in request["status"]
    event = await wait_for_event(stack, "CertificateRequest", name, reason, type_="Warning")
    assert event["note"] == ready["message"]
    assert await get_order(stack, name) is None
    assert calls_since(stack, mark, "create") == 0


async def test_duplicate_names_are_issued_once_each(stack: Stack) -> None:
    first, second = f"dup.{DOMAIN}", f"www.dup.{DOMAIN}"
    csr = make_csr([first, first.upper(), second, first])

    await stack.cluster.create_certificate_request(E2E_NAMESPACE, "duplicates", csr, REF)
    leaf = await issued_chain(stack, E2E_NAMESPACE, "duplicates", csr)

    (certificate,) = certificates_for(stack, csr)
    assert certificate.domains == (first, second)
    assert sorted(san_names(leaf)) == sorted([first, second])


# --- requests that wait for the user to fix something -------------------------------------------


async def test_missing_issuer_keeps_the_request_pending_until_it_exists(stack: Stack) -> None:
    csr = make_csr([f"later.{DOMAIN}"])
    ref = issuer_ref("ZeroSSLIssuer", "later")

    await stack.cluster.create_certificate_request(E2E_NAMESPACE, "issuer-later", csr, ref)
    request = await stack.cluster.wait_for_request(
        E2E_NAMESPACE, "issuer-later", status="False", reason="Pending", timeout=WAIT
    )

    message = "Issuer ZeroSSLIssuer e2e/later does not exist; waiting for it to be created"
    assert ready_condition(request)["message"] == message
    assert "failureTime" not in request["status"]
    event = await wait_for_event(
        stack, "CertificateRequest", "issuer-later", "IssuerNotFound", type_="Normal"
    )
    assert event["note"] == message
    assert await get_order(stack, "issuer-later") is None

    await create_issuer(stack, "later")
    await issued_chain(stack, E2E_NAMESPACE, "issuer-later", csr)


async def test_issuer_kind_we_do_not_serve_fails(stack: Stack) -> None:
    ref = {"group": "zerossl.issuer.dev", "kind": "ZeroSSLOrder", "name": ISSUER}
    mark = log_mark(stack)

    await stack.cluster.create_certificate_request(
        E2E_NAMESPACE, "wrong-kind", make_csr([f"kind.{DOMAIN}"]), ref
    )
    request = await stack.cluster.wait_for_request(
        E2E_NAMESPACE, "wrong-kind", status="False", reason="Failed", timeout=WAIT
    )

    message = (
        "issuerRef.kind 'ZeroSSLOrder' is not a kind of zerossl.issuer.dev; use ZeroSSLIssuer "
        "or ZeroSSLClusterIssuer"
    )
    assert ready_condition(request)["message"] == message
    assert request["status"]["failureTime"]
    await wait_for_event(
        stack, "CertificateRequest", "wrong-kind", "IssuerKindUnknown", type_="Warning"
    )
    assert await get_order(stack, "wrong-kind") is None
    assert calls_since(stack, mark, "create") == 0


async def wait_for_no_solver(stack: Stack, name: str, detail: str) -> None:
    """The request is Pending because no solver fits, with ``detail`` saying why."""
    request = await stack.cluster.wait_for_request(
        E2E_NAMESPACE, name, status="False", reason="Pending", timeout=WAIT
    )
    message = f"No solver of the issuer can validate the request: {detail}; waiting for the issuer"
    assert ready_condition(request)["message"] == message
    assert "failureTime" not in request["status"]
    event = await wait_for_event(stack, "CertificateRequest", name, "NoSolver", type_="Normal")
    assert event["note"] == message
    assert await get_order(stack, name) is None


async def set_solvers(stack: Stack, issuer: str, solvers: list[JSON]) -> None:
    await stack.kube.merge_patch(
        {
            "apiVersion": ISSUER_API_VERSION,
            "kind": "ZeroSSLIssuer",
            "metadata": {"name": issuer, "namespace": E2E_NAMESPACE},
            "spec": {"solvers": solvers},
        }
    )


async def test_wildcard_waits_for_a_solver_that_can_validate_it(stack: Stack) -> None:
    name = f"*.wild.{DOMAIN}"
    csr = make_csr([name])
    await create_issuer(stack, "http-only")
    await stack.cluster.wait_for_issuer("ZeroSSLIssuer", "http-only", E2E_NAMESPACE)
    ref = issuer_ref("ZeroSSLIssuer", "http-only")
    mark = log_mark(stack)

    await stack.cluster.create_certificate_request(E2E_NAMESPACE, "wildcard-http", csr, ref)
    await wait_for_no_solver(
        stack,
        "wildcard-http",
        f"{name} (wildcard name) needs a dns or email solver; only solvers[0] (http) match",
    )
    assert calls_since(stack, mark, "create") == 0

    await set_solvers(stack, "http-only", [EMAIL_SOLVER, HTTP_SOLVER])
    certificate = await wait_for_certificate(stack, csr, status="pending_validation")
    assert certificate.validation_type == "EMAIL"
    stack.emulator.approve_email(certificate.id)
    leaf = await issued_chain(stack, E2E_NAMESPACE, "wildcard-http", csr)
    assert san_names(leaf) == [name]


async def test_ip_address_waits_for_a_solver_that_can_validate_it(stack: Stack) -> None:
    csr = make_csr([], ["203.0.113.9"])
    await create_issuer(stack, "email-only", solvers=[EMAIL_SOLVER])
    await stack.cluster.wait_for_issuer("ZeroSSLIssuer", "email-only", E2E_NAMESPACE)
    ref = issuer_ref("ZeroSSLIssuer", "email-only")

    await stack.cluster.create_certificate_request(E2E_NAMESPACE, "ip-email", csr, ref)
    await wait_for_no_solver(
        stack,
        "ip-email",
        "203.0.113.9 (IPv4 address) needs a http solver; only solvers[0] (email) match",
    )

    await set_solvers(stack, "email-only", [EMAIL_SOLVER, HTTP_SOLVER])
    leaf = await issued_chain(stack, E2E_NAMESPACE, "ip-email", csr)
    assert san_names(leaf) == ["203.0.113.9"]
    (certificate,) = certificates_for(stack, csr)
    assert certificate.validation_type == "HTTP_CSR_HASH"


# --- validityDays -------------------------------------------------------------------------------


@pytest.mark.parametrize("days", [0, 30, 180, 366])
async def test_validity_other_than_90_or_365_days_is_refused_by_the_api_server(
    stack: Stack, days: int
) -> None:
    with pytest.raises(KubeError) as refused:
        await create_issuer(stack, f"validity-{days}", validityDays=days)

    assert refused.value.status == 422
    assert "spec.validityDays" in str(refused.value)
    assert "90" in str(refused.value)
    assert "365" in str(refused.value)
    found = await stack.kube.get(
        ISSUER_API_VERSION, "ZeroSSLIssuer", f"validity-{days}", E2E_NAMESPACE
    )
    assert found is None


async def test_validity_of_365_days_is_issued_for_365_days(stack: Stack) -> None:
    await create_issuer(stack, "validity-365", validityDays=365)
    await stack.cluster.wait_for_issuer("ZeroSSLIssuer", "validity-365", E2E_NAMESPACE)
    csr = make_csr([f"year.{DOMAIN}"])

    await stack.cluster.create_certificate_request(
        E2E_NAMESPACE, "year", csr, issuer_ref("ZeroSSLIssuer", "validity-365")
    )
    leaf = await issued_chain(stack, E2E_NAMESPACE, "year", csr)

    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert timedelta(days=364) < lifetime <= timedelta(days=365)
