"""ZeroSSL response bodies shaped like the documented (and observed) ones."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

MD5 = "0F70760EEC50DF6725F9592F26D7B0F3"
SHA = "1397F9DA233B277153AE0B68083EFAC7A53D6958F296128163058EA67EBB88CC"


def certificate_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "a856a39a1c3ad0s8asa606g37667d221",
        "type": "3",
        "common_name": "kamayi.com.pk",
        "additional_domains": "www.kamayi.com.pk, kamayi.com.pk",
        "created": "2020-04-29 09:04:19",
        "expires": "2020-07-28 00:00:00",
        "status": "draft",
        "validation_type": None,
        "validation_emails": None,
        "replacement_for": "",
        "fingerprint_sha1": None,
        "brand_validation": None,
        "signature_algorithm_properties": None,
        "a_field_added_next_year": {"nested": [1, 2]},
        "validation": {
            "email_validation": {
                "kamayi.com.pk": ["admin@kamayi.com.pk", "webmaster@kamayi.com.pk"],
            },
            "other_methods": {
                "kamayi.com.pk": {
                    "file_validation_url_http": (
                        f"http://kamayi.com.pk/.well-known/pki-validation/{MD5}.txt"
                    ),
                    "file_validation_url_https": (
                        f"https://kamayi.com.pk/.well-known/pki-validation/{MD5}.txt"
                    ),
                    "file_validation_content": [SHA, "comodoca.com", "661862d3f04226a"],
                    "cname_validation_p1": f"_{MD5}.kamayi.com.pk",
                    "cname_validation_p2": (f"{SHA[:32]}.{SHA[32:]}.661862d3f04226a.comodoca.com"),
                },
                "www.kamayi.com.pk": {"cname_validation_p1": f"_{MD5}.www.kamayi.com.pk"},
            },
        },
    }
    body.update(overrides)
    return body


SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
P256 = ec.generate_private_key(ec.SECP256R1())


def make_csr(
    common_name: str | None = "example.com",
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    *,
    key: SigningKey = P256,
    emails: Sequence[str] = (),
    uris: Sequence[str] = (),
) -> str:
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else []
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject))
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    sans += [x509.RFC822Name(e) for e in emails]
    sans += [x509.UniformResourceIdentifier(u) for u in uris]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = builder.sign(key, algorithm)
    return csr.public_bytes(serialization.Encoding.PEM).decode()
