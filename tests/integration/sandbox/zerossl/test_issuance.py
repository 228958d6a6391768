"""Asynchronous issuance, stuck/release, and certificates that chain to the emulator's root and
carry exactly the requested names."""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from controller.sandbox.zerossl import IssuanceDelay, ZeroSSLEmulator
from tests.integration.sandbox.zerossl.conftest import (
    KEY,
    Api,
    DnsServer,
    FileServer,
    issue,
    make_csr,
    private_key,
    serve_files,
    verify_http,
)


def general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def verify_chain(
    leaf_pem: str, bundle_pem: str, root_pem: str, name: str
) -> list[x509.Certificate]:
    leaf = x509.load_pem_x509_certificate(leaf_pem.encode())
    intermediates = x509.load_pem_x509_certificates(bundle_pem.encode())
    root = x509.load_pem_x509_certificate(root_pem.encode())
    verifier = (
        PolicyBuilder()
        .store(Store([root]))
        .time(datetime.now(UTC) + timedelta(hours=1))
        .build_server_verifier(general_name(name))
    )
    return verifier.verify(leaf, intermediates)


def names_of(certificate: x509.Certificate) -> list[str]:
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(n.value) for n in san]


@pytest.mark.parametrize(
    ("key_kind", "names"),
    [
        ("rsa2048", ["rsa.example.com", "www.rsa.example.com", "api.rsa.example.com"]),
        ("ec256", ["ec.example.com"]),
        ("ec384", ["203.0.113.9", "ip.example.com"]),
    ],
)
async def test_issued_certificate_chains_to_root_with_exactly_the_requested_names(
    api: Api, emulator: ZeroSSLEmulator, file_server: FileServer, key_kind: str, names: list[str]
) -> None:
    issued = await issue(api, emulator, file_server, names, key_kind=key_kind)
    files = await api.ok("GET", f"/certificates/{issued['id']}/download/return")
    leaf = x509.load_pem_x509_certificate(files["certificate.crt"].encode())

    assert names_of(leaf) == names
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == names[0]
    assert leaf.public_key() == private_key(key_kind).public_key()
    expected_key = rsa.RSAPublicKey if key_kind.startswith("rsa") else ec.EllipticCurvePublicKey
    assert isinstance(leaf.public_key(), expected_key)
    for name in names:
        chain = verify_chain(
            files["certificate.crt"], files["ca_bundle.crt"], emulator.root_pem, name
        )
        assert chain[-1] == x509.load_pem_x509_certificate(emulator.root_pem.encode())
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert lifetime == timedelta(days=90, seconds=-1)
    assert issued["expires"] == leaf.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S")
    assert issued["fingerprint_sha1"] == leaf.fingerprint(hashes.SHA1()).hex().upper()


async def test_wildcard_one_year_certificate_via_cname(
    api: Api, emulator: ZeroSSLEmulator, dns_server: DnsServer
) -> None:
    emulator.set_dns_server("127.0.0.1", dns_server.port)
    created = await api.create(["*.wild.example.com"], certificate_validity_days="365")
    entry = created["validation"]["other_methods"]["*.wild.example.com"]
    dns_server.add(entry["cname_validation_p1"], entry["cname_validation_p2"] + ".")
    await api.ok(
        "POST",
        f"/certificates/{created['id']}/challenges",
        data={"validation_method": "CNAME_CSR_HASH"},
    )
    issued = await api.wait_status(created["id"], "issued")
    assert issued["type"] == "5"
    files = await api.ok("GET", f"/certificates/{created['id']}/download/return")
    leaf = x509.load_pem_x509_certificate(files["certificate.crt"].encode())
    assert names_of(leaf) == ["*.wild.example.com"]
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(days=365, seconds=-1)
    verify_chain(
        files["certificate.crt"], files["ca_bundle.crt"], emulator.root_pem, "a.wild.example.com"
    )


async def test_cross_signed_bundle_chains_to_the_legacy_root(
    api: Api, emulator: ZeroSSLEmulator, file_server: FileServer
) -> None:
    issued = await issue(api, emulator, file_server, ["cross.example.com"])
    files = await api.ok(
        "GET", f"/certificates/{issued['id']}/download/return", params={"include_cross_signed": "1"}
    )
    assert len(x509.load_pem_x509_certificates(files["ca_bundle.crt"].encode())) == 2
    chain = verify_chain(
        files["certificate.crt"],
        files["ca_bundle.crt"],
        emulator.legacy_root_pem,
        "cross.example.com",
    )
    assert len(chain) == 4


async def test_issuance_waits_for_the_configured_delay(
    session: aiohttp.ClientSession, file_server: FileServer
) -> None:
    async with ZeroSSLEmulator(issuance_delay=IssuanceDelay(1.0, 1.0)) as z:
        z.add_account(KEY)
        api = Api(session, z.url)
        created = await api.create(["later.example.com"])
        serve_files(z, file_server, created)
        assert (await verify_http(api, created["id"]))["status"] == "pending_validation"
        status = (await api.ok("GET", f"/certificates/{created['id']}"))["status"]
        assert status == "pending_validation"
        await api.wait_status(created["id"], "issued")


async def test_stuck_issuance_until_released(
    api: Api, emulator: ZeroSSLEmulator, file_server: FileServer
) -> None:
    emulator.faults.stuck_issuance = True
    first = await api.create(["stuck1.example.com"])
    second = await api.create(["stuck2.example.com"])
    for created in (first, second):
        serve_files(emulator, file_server, created)
        await verify_http(api, created["id"])
    await asyncio.sleep(0.05)  # zero delay: without the hold both would be issued by now
    assert [emulator.certificate(c["id"]).held for c in (first, second)] == [True, True]
    assert (await api.ok("GET", f"/certificates/{first['id']}"))["status"] == "pending_validation"

    code, body = await api.call("POST", f"/_emulator/release/{first['id']}")
    assert (code, body) == (200, {"released": True})
    await api.wait_status(first["id"], "issued")
    assert (await api.ok("GET", f"/certificates/{second['id']}"))["status"] == "pending_validation"
    code, body = await api.call("POST", "/_emulator/release")
    assert body == {"released": 1}
    await api.wait_status(second["id"], "issued")


async def test_cancel_while_pending_means_never_issued(
    session: aiohttp.ClientSession, file_server: FileServer
) -> None:
    async with ZeroSSLEmulator(issuance_delay="fixed:0.2") as z:
        z.add_account(KEY)
        api = Api(session, z.url)
        cancelled = await api.create(["cancel.example.com"])
        serve_files(z, file_server, cancelled)
        await verify_http(api, cancelled["id"])
        assert await api.ok("POST", f"/certificates/{cancelled['id']}/cancel") == {"success": 1}
        # issuance runs in due order: once a later certificate is issued, the cancelled one's
        # turn has passed
        later = await api.create(["later.example.com"])
        serve_files(z, file_server, later)
        await verify_http(api, later["id"])
        await api.wait_status(later["id"], "issued")
        assert z.certificate(cancelled["id"]).status == "cancelled"


async def test_replacement_of_an_issued_certificate(
    api: Api, emulator: ZeroSSLEmulator, file_server: FileServer
) -> None:
    original = await issue(api, emulator, file_server, ["renew.example.com"])
    fields = {
        "certificate_domains": "renew.example.com",
        "certificate_csr": make_csr(["renew.example.com"]),
        "replacement_for_certificate": original["id"],
    }
    replacement = await api.ok("POST", "/certificates", data=fields)
    assert replacement["replacement_for"] == original["id"]
    assert (await api.error("POST", "/certificates", data=fields))["code"] == 2813
    other_cn = {
        **fields,
        "certificate_domains": "other.example.com",
        "certificate_csr": make_csr(["other.example.com"]),
    }
    await api.ok("POST", f"/certificates/{replacement['id']}/cancel")
    assert (await api.error("POST", "/certificates", data=other_cn))["code"] == 2842
