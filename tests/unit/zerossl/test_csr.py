from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from controller.zerossl.csr import CsrError, csr_hashes, inspect_csr, parse_csr
from controller.zerossl.models import Certificate
from tests.unit.zerossl.samples import make_csr


def test_domains_cn_first_then_unique_sans() -> None:
    info = inspect_csr(
        make_csr(
            "www.example.com", ["example.com", "WWW.example.com", "api.example.com"], ["192.0.2.7"]
        )
    )
    assert info.domains == ("www.example.com", "example.com", "api.example.com", "192.0.2.7")
    assert info.common_name == "www.example.com"
    assert info.key == "ECDSA P-256"
    assert not info.is_wildcard


def test_ip_common_name() -> None:
    assert inspect_csr(make_csr("192.0.2.1", ips=["192.0.2.1"])).domains == ("192.0.2.1",)


def test_wildcard_alone_is_fine() -> None:
    info = inspect_csr(make_csr("*.example.com", ["*.example.com"]))
    assert info.domains == ("*.example.com",)
    assert info.is_wildcard
    assert info.hashes.cname_name("*.example.com") == f"_{info.hashes.md5}.example.com"


@pytest.mark.parametrize(
    ("csr_args", "reason"),
    [
        ((None, ["example.com"]), "missing_common_name"),
        (("*.example.com", ["example.com"]), "wildcard_not_alone"),
        (("example.com", ["*.example.com"]), "wildcard_not_alone"),
        (("example.com", [], ["2001:db8::1"]), "ipv6"),
        (("example.com", ["a" * 60 + ".example.com"]), "name_too_long"),
        (("not a domain", []), "invalid_name"),
        (("example.com", ["-bad-.example.com"]), "invalid_name"),
        (("localhost", []), "invalid_name"),
        (("ex*mple.com", []), "invalid_name"),
    ],
)
def test_names_zerossl_cannot_issue(csr_args: tuple[object, ...], reason: str) -> None:
    with pytest.raises(CsrError) as caught:
        inspect_csr(make_csr(*csr_args))  # type: ignore[arg-type]
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("sans", "message"),
    [
        ({"emails": ["admin@x.org"]}, "email address SANs are not supported: admin@x.org"),
        ({"uris": ["spiffe://x.org/web"]}, "URI SANs are not supported: spiffe://x.org/web"),
    ],
)
def test_unsupported_sans_are_named_in_the_users_terms(
    sans: dict[str, list[str]], message: str
) -> None:
    with pytest.raises(CsrError) as caught:
        inspect_csr(make_csr("example.com", ["example.com"], **sans))  # type: ignore[arg-type]
    assert caught.value.reason == "unsupported_san"
    assert str(caught.value).startswith(message)
    assert "only DNS names and IPv4 addresses" in str(caught.value)
    assert "<" not in str(caught.value)  # no Python object repr


@pytest.mark.parametrize(
    ("name", "ascii_form"),
    [("bücher.example.com", "xn--bcher-kva.example.com"), ("*.bücher.de", "*.xn--bcher-kva.de")],
)
def test_an_internationalized_name_gets_its_punycode_form(name: str, ascii_form: str) -> None:
    with pytest.raises(CsrError) as caught:
        inspect_csr(make_csr(name))
    assert caught.value.reason == "internationalized_name"
    assert f"use {ascii_form}" in str(caught.value)
    assert "xn-- (punycode)" in str(caught.value)


def test_an_invalid_name_is_quoted_not_repred() -> None:
    with pytest.raises(CsrError) as caught:
        inspect_csr(make_csr("not a domain"))
    assert str(caught.value).startswith('"not a domain" is not a valid DNS name')


def test_accepted_and_refused_keys() -> None:
    rsa2048 = rsa.generate_private_key(65537, 2048)
    assert inspect_csr(make_csr(key=rsa2048)).key == "RSA 2048"
    assert inspect_csr(make_csr(key=ec.generate_private_key(ec.SECP384R1()))).key == "ECDSA P-384"
    refused = [
        (rsa.generate_private_key(65537, 1024), "RSA 1024-bit"),
        (ec.generate_private_key(ec.SECP521R1()), "secp521r1"),
        (ed25519.Ed25519PrivateKey.generate(), "Ed25519"),
    ]
    for key, words in refused:
        with pytest.raises(CsrError, match=words) as caught:
            inspect_csr(make_csr(key=key))
        assert caught.value.reason == "unsupported_key"


def test_malformed_and_mis_signed() -> None:
    with pytest.raises(CsrError) as caught:
        parse_csr("hello")
    assert caught.value.reason == "malformed"
    with pytest.raises(CsrError) as caught:
        parse_csr("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
    assert caught.value.reason == "malformed"
    der = bytearray(
        x509.load_pem_x509_csr(make_csr().encode()).public_bytes(serialization.Encoding.DER)
    )
    der[-3] ^= 0x01  # inside the signature value
    tampered = (
        "-----BEGIN CERTIFICATE REQUEST-----\n"
        + base64.encodebytes(bytes(der)).decode()
        + "-----END CERTIFICATE REQUEST-----\n"
    )
    with pytest.raises(CsrError) as caught:
        parse_csr(tampered)
    assert caught.value.reason == "bad_signature"
    with pytest.raises(CsrError):  # a refusal is never remembered as a success
        parse_csr(tampered)


def test_a_verified_csr_is_remembered_not_checked_again() -> None:
    pem = make_csr()
    first = parse_csr(pem)
    assert parse_csr(pem.encode()) is first  # str or bytes, the same verified object
    assert parse_csr(make_csr("other.example.com")) is not first


def test_hashes_are_uppercase_hex_of_the_der_as_sent() -> None:
    info = inspect_csr(make_csr("example.com", ["example.com"]))
    body = "".join(info.pem.strip().splitlines()[1:-1])
    der = base64.b64decode(body)
    assert info.hashes.md5 == hashlib.md5(der).hexdigest().upper()
    assert info.hashes.sha256 == hashlib.sha256(der).hexdigest().upper()
    assert info.hashes == csr_hashes(parse_csr(info.pem))
    md5, sha256 = info.hashes
    assert len(md5) == 32
    assert len(sha256) == 64
    assert info.hashes.http_path == f"/.well-known/pki-validation/{md5}.txt"
    assert info.hashes.cname_name("www.example.com") == f"_{md5}.www.example.com"


def test_a_draft_is_matched_to_its_csr() -> None:
    mine = inspect_csr(make_csr("example.com")).hashes
    other = inspect_csr(make_csr("example.com")).hashes  # same names, fresh signature
    assert mine != other

    def draft(md5: str, sha: str) -> Certificate:
        return Certificate.from_json(
            {
                "id": "d1",
                "status": "draft",
                "validation": {
                    "other_methods": {
                        "example.com": {
                            "file_validation_url_http": (
                                f"http://example.com/.well-known/pki-validation/{md5}.txt"
                            ),
                            "file_validation_content": [sha, "comodoca.com", "u1"],
                            "cname_validation_p1": f"_{md5}.example.com",
                            "cname_validation_p2": f"{sha[:32]}.{sha[32:]}.u1.comodoca.com",
                        }
                    }
                },
            }
        )

    assert mine.matches(draft(mine.md5, mine.sha256))
    assert not mine.matches(draft(other.md5, other.sha256))
    assert not mine.matches(draft(mine.md5, other.sha256))  # MD5 collision guard
    assert not mine.matches(Certificate.from_json({"id": "x", "status": "draft"}))
