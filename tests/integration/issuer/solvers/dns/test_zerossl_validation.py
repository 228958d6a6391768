"""End to end over real DNS: the emulated ZeroSSL validates a CNAME that the rfc2136 provider
published in BIND9 — and refuses one whose target was written relative (certmagic#304)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import dns.asyncquery
import dns.tsig
import dns.tsigkeyring
import dns.update
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from controller.issuer.solvers.dns import CNAMERecord, build_dns_provider, wait_visible
from controller.sandbox.zerossl import ZeroSSLEmulator
from tests.integration.issuer.solvers.dns.fakes import FakeSecrets
from tests.support.bind9 import Bind9

pytestmark = pytest.mark.integration
ACCESS_KEY = "dns-validation-test-key"


def csr(name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


class ZeroSSL:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def call(self, method: str, path: str, data: dict[str, str] | None = None) -> Any:
        params = {"access_key": ACCESS_KEY}
        async with self.session.request(method, self.url + path, params=params, data=data) as reply:
            assert reply.status == 200
            return await reply.json()

    async def order(self, name: str) -> tuple[str, CNAMERecord]:
        created = await self.call(
            "POST",
            "/certificates",
            {"certificate_domains": name, "certificate_csr": csr(name), "strict_domains": "1"},
        )
        method = created["validation"]["other_methods"][name]
        return created["id"], CNAMERecord.from_zerossl(
            method["cname_validation_p1"], method["cname_validation_p2"]
        )

    async def verify(self, certificate_id: str) -> Any:
        return await self.call(
            "POST",
            f"/certificates/{certificate_id}/challenges",
            {"validation_method": "CNAME_CSR_HASH"},
        )


@pytest.fixture
async def zerossl(bind9: Bind9) -> AsyncIterator[ZeroSSL]:
    async with ZeroSSLEmulator(dcv_timeout=2.0) as emulator, aiohttp.ClientSession() as session:
        emulator.add_account(ACCESS_KEY)
        emulator.set_dns_server(bind9.host, bind9.port)
        yield ZeroSSL(session, emulator.url)


async def test_zerossl_validates_a_cname_published_through_rfc2136(
    bind9: Bind9, zerossl: ZeroSSL, secrets: FakeSecrets
) -> None:
    key = bind9.keys["HMACSHA512"]
    secrets.put("issuers", "tsig", "secret", key.secret)
    provider = build_dns_provider(
        {
            "rfc2136": {
                "nameserver": bind9.address,
                "tsigKeyName": key.name,
                "tsigAlgorithm": "HMACSHA512",
                "tsigSecretRef": {"name": "tsig", "key": "secret"},
            }
        },
        namespace="issuers",
        secrets=secrets,
        owner={},
        kube=None,
        timeout=3.0,
    )
    certificate_id, record = await zerossl.order("shop.sub.example.com")

    await provider.present(record)
    await wait_visible(record, [bind9.address], timeout=5, interval=0.05)
    verified = await zerossl.verify(certificate_id)

    assert verified.get("success") is not False, verified
    assert verified["status"] == "pending_validation"
    await provider.cleanup(record)


async def test_a_relative_target_gets_the_zone_appended_and_fails(
    bind9: Bind9, zerossl: ZeroSSL
) -> None:
    certificate_id, record = await zerossl.order("www.example.com")
    key = bind9.keys["HMACSHA256"]
    update = dns.update.UpdateMessage(
        "example.com.",
        keyring=dns.tsigkeyring.from_text({key.name: key.secret}),
        keyalgorithm=dns.tsig.HMAC_SHA256,
    )
    update.replace(record.name, 60, "CNAME", record.target.rstrip("."))  # the pitfall
    await dns.asyncquery.tcp(update, bind9.host, port=bind9.port, timeout=3)

    failed = await zerossl.verify(certificate_id)

    assert failed["success"] is False
    details = failed["error"]["details"]["www.example.com"]["www.example.com"]  # www pair
    assert details["cname_found"] == 1
    assert details["record_correct"] == 0
    assert details["actual_record"].lower().endswith("comodoca.com.example.com")
