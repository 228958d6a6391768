"""POST /certificates: the certificate object, validation values and every input error."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from tests.integration.sandbox.zerossl.conftest import Api, make_csr


def der_hashes(pem: str) -> tuple[str, str]:
    der = x509.load_pem_x509_csr(pem.encode()).public_bytes(Encoding.DER)
    return hashlib.md5(der).hexdigest().upper(), hashlib.sha256(der).hexdigest().upper()


async def test_create_returns_draft_with_validation_computed_from_der_csr(api: Api) -> None:
    names = ["shop.example.com", "www.shop.example.com"]
    csr = make_csr(names)
    md5, sha256 = der_hashes(csr)
    body = await api.ok(
        "POST",
        "/certificates",
        data={
            "certificate_domains": ",".join(names),
            "certificate_csr": csr,
            "strict_domains": "1",
        },
    )

    assert re.fullmatch(r"[0-9a-f]{32}", body["id"])
    assert body["status"] == "draft"
    assert body["type"] == "3"
    assert body["common_name"] == "shop.example.com"
    assert body["additional_domains"] == "www.shop.example.com"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", body["created"])
    assert body["expires"].endswith(" 00:00:00")
    assert body["validation_type"] is None
    assert body["fingerprint_sha1"] is None
    assert body["signature_algorithm_properties"] is None
    other = body["validation"]["other_methods"]
    assert set(other) == set(names)
    entry = other["www.shop.example.com"]
    unique = entry["file_validation_content"][2]
    assert re.fullmatch(r"[0-9a-f]{15}", unique)
    assert entry == {
        "file_validation_url_http": f"http://www.shop.example.com/.well-known/pki-validation/{md5}.txt",
        "file_validation_url_https": f"https://www.shop.example.com/.well-known/pki-validation/{md5}.txt",
        "file_validation_content": [sha256, "comodoca.com", unique],
        "cname_validation_p1": f"_{md5}.www.shop.example.com",
        "cname_validation_p2": f"{sha256[:32]}.{sha256[32:]}.{unique}.comodoca.com",
    }
    emails = body["validation"]["email_validation"]["shop.example.com"]
    assert emails[:5] == [
        f"{box}@shop.example.com"
        for box in ("admin", "administrator", "hostmaster", "postmaster", "webmaster")
    ]
    assert "admin@example.com" in emails


async def test_every_order_gets_a_new_unique_value_even_for_the_same_csr(api: Api) -> None:
    csr = make_csr(["a.example.com"])
    data = {"certificate_domains": "a.example.com", "certificate_csr": csr, "strict_domains": "1"}
    first = await api.ok("POST", "/certificates", data=data)
    second = await api.ok("POST", "/certificates", data=data)
    one = first["validation"]["other_methods"]["a.example.com"]
    two = second["validation"]["other_methods"]["a.example.com"]
    assert first["id"] != second["id"]
    assert one["cname_validation_p1"] == two["cname_validation_p1"]  # same CSR, same MD5
    assert one["file_validation_content"][2] != two["file_validation_content"][2]
    assert one["cname_validation_p2"] != two["cname_validation_p2"]


async def test_wildcard_and_ip_orders(api: Api) -> None:
    wildcard = await api.create(["*.example.com"])
    assert wildcard["type"] == "2"
    assert wildcard["validation"]["other_methods"]["*.example.com"]["cname_validation_p1"].endswith(
        ".example.com"
    )
    assert (
        "*." not in wildcard["validation"]["other_methods"]["*.example.com"]["cname_validation_p1"]
    )
    ip = await api.create(["203.0.113.7"], certificate_validity_days="365")
    assert ip["type"] == "4"
    assert ip["validation"]["email_validation"] == {}


async def test_without_strict_domains_the_www_twin_is_added(api: Api) -> None:
    body = await api.ok(
        "POST",
        "/certificates",
        data={"certificate_domains": "example.com", "certificate_csr": make_csr(["example.com"])},
    )
    assert body["additional_domains"] == "www.example.com"
    assert set(body["validation"]["other_methods"]) == {"example.com", "www.example.com"}


async def test_json_body_with_content_type_is_accepted(api: Api) -> None:
    body = await api.ok(
        "POST",
        "/certificates",
        json={
            "certificate_domains": "json.example.com",
            "certificate_csr": make_csr(["json.example.com"]),
            "strict_domains": True,
            "certificate_validity_days": 90,
        },
    )
    assert body["status"] == "draft"
    assert body["additional_domains"] == ""


async def test_json_body_errors(api: Api) -> None:
    csr = make_csr(["a.example.com"])
    array = await api.error(
        "POST",
        "/certificates",
        json={"certificate_domains": ["a.example.com"], "certificate_csr": csr},
    )
    assert (array["code"], array["type"]) == (116, "invalid_json_request_param")
    broken = await api.error(
        "POST", "/certificates", data=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert broken["code"] == 115
    # a JSON body without the JSON content type is not read at all
    unread = await api.error(
        "POST",
        "/certificates",
        data=b'{"certificate_domains": "a.example.com"}',
        headers={"Content-Type": "text/plain"},
    )
    assert unread["code"] == 2812


CSR_A = make_csr(["a.example.com"])


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"certificate_csr": CSR_A}, 2812),
        ({"certificate_domains": "a.example.com"}, 2819),
        (
            {
                "certificate_domains": "a.example.com",
                "certificate_csr": CSR_A,
                "certificate_validity_days": "30",
            },
            2807,
        ),
        (
            {
                "certificate_domains": "a.example.com,b.example.com,A.example.com",
                "certificate_csr": CSR_A,
            },
            2811,
        ),
        ({"certificate_domains": "*.example.com,example.com", "certificate_csr": CSR_A}, 2809),
        (
            {"certificate_domains": "a.example.com,bad_name.example.com", "certificate_csr": CSR_A},
            2808,
        ),
        ({"certificate_domains": "a.example.com,,b.example.com", "certificate_csr": CSR_A}, 2808),
        ({"certificate_domains": "a.example.com,2001:db8::1", "certificate_csr": CSR_A}, 2843),
        ({"certificate_domains": f"{'a' * 60}.example.com", "certificate_csr": CSR_A}, 2823),
        ({"certificate_domains": "host.local", "certificate_csr": CSR_A}, 2877),
        ({"certificate_domains": "a.localhost", "certificate_csr": CSR_A}, 2877),
        ({"certificate_domains": "a.test", "certificate_csr": CSR_A}, 2877),
        ({"certificate_domains": "www.example", "certificate_csr": CSR_A}, 2877),
        ({"certificate_domains": "x.invalid", "certificate_csr": CSR_A}, 2877),
        ({"certificate_domains": "a.example.com", "certificate_csr": "not a csr"}, 2818),
        (
            {"certificate_domains": "a.example.com", "certificate_csr": CSR_A.replace("+", " ")},
            2818,
        ),
        ({"certificate_domains": "b.example.com", "certificate_csr": CSR_A}, 2836),
        ({"certificate_domains": "b.example.com,a.example.com", "certificate_csr": CSR_A}, 2836),
        ({"certificate_domains": "a.example.com,b.example.com", "certificate_csr": CSR_A}, 2818),
    ],
)
async def test_create_input_errors(api: Api, fields: dict[str, str], code: int) -> None:
    error = await api.error("POST", "/certificates", data={"strict_domains": "1", **fields})
    assert error["code"] == code, error


async def test_csr_signature_must_verify(api: Api) -> None:
    pem = make_csr(["a.example.com"])
    request = x509.load_pem_x509_csr(pem.encode())
    der = bytearray(request.public_bytes(Encoding.DER))
    der[-3] ^= 0x01  # flip a bit inside the signature
    body = base64.encodebytes(bytes(der)).decode()
    tampered = f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"
    error = await api.error(
        "POST",
        "/certificates",
        data={"certificate_domains": "a.example.com", "certificate_csr": tampered},
    )
    assert error["code"] == 2818


@pytest.mark.parametrize("kind", ["rsa1024", "rsa3072", "ec521"])
async def test_unsupported_keys_are_rejected(api: Api, kind: str) -> None:
    error = await api.error(
        "POST",
        "/certificates",
        data={
            "certificate_domains": "a.example.com",
            "certificate_csr": make_csr(["a.example.com"], key=kind),
        },
    )
    assert error["code"] == 2818
    assert "not supported" in error["info"]


async def test_csr_signed_with_an_unusual_hash_is_rejected(api: Api) -> None:
    csr = make_csr(["a.example.com"], key="rsa2048", algorithm=hashes.SHA224())
    error = await api.error(
        "POST",
        "/certificates",
        data={"certificate_domains": "a.example.com", "certificate_csr": csr},
    )
    assert error["code"] == 2818


@pytest.mark.parametrize(
    ("domains", "csr_names", "cn", "code"),
    [
        ("a.example.com", ["a.example.com"], "*.example.com", 28181),
        ("*.example.com", ["*.example.com"], "example.com", 28182),
        ("a.example.com", ["a.example.com"], None, 2836),
    ],
)
async def test_common_name_rules(
    api: Api, domains: str, csr_names: list[str], cn: str | None, code: int
) -> None:
    csr = make_csr(csr_names, cn=cn)
    error = await api.error(
        "POST", "/certificates", data={"certificate_domains": domains, "certificate_csr": csr}
    )
    assert error["code"] == code


async def test_replacement_needs_a_known_issued_original(api: Api) -> None:
    draft = await api.create(["r.example.com"])
    not_active = await api.error(
        "POST",
        "/certificates",
        data={
            "certificate_domains": "r.example.com",
            "certificate_csr": make_csr(["r.example.com"]),
            "replacement_for_certificate": draft["id"],
        },
    )
    assert not_active["code"] == 2815
    unknown = await api.error(
        "POST",
        "/certificates",
        data={
            "certificate_domains": "r.example.com",
            "certificate_csr": make_csr(["r.example.com"]),
            "replacement_for_certificate": "0" * 32,
        },
    )
    assert unknown["code"] == 2816
