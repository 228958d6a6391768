"""Certificate signing requests as cert-manager builds them from a Certificate."""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Sequence
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

KeyKind = Literal["ec", "rsa"]


DEFAULT_USAGES = ("digital signature", "key encipherment")
"""cert-manager's default ``spec.usages``; :data:`DEFAULT_KEY_USAGE` is the same in the CSR."""
DEFAULT_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    key_encipherment=True,
    content_commitment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


class _Default(enum.Enum):
    FIRST_NAME = "first-name"


FIRST_NAME = _Default.FIRST_NAME
"""``common_name`` default: the first DNS name (else the first IP address)."""


PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def make_csr(
    dns_names: Sequence[str],
    ip_addresses: Sequence[str] = (),
    *,
    key: KeyKind = "ec",
    common_name: str | _Default | None = FIRST_NAME,
) -> bytes:
    """A PEM CSR for these names (SANs) with a fresh key (``ec``: P-256, ``rsa``: 2048 bits) and
    cert-manager's default key usages; ``common_name`` None leaves the subject empty."""
    if not dns_names and not ip_addresses:
        raise ValueError("a CSR needs at least one DNS name or IP address")
    if common_name is FIRST_NAME:
        common_name = dns_names[0] if dns_names else str(ipaddress.ip_address(ip_addresses[0]))
    private_key: PrivateKey = (
        ec.generate_private_key(ec.SECP256R1())
        if key == "ec"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    return csr_for_key(private_key, dns_names, ip_addresses, common_name)


def csr_for_key(
    private_key: PrivateKey,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str],
    common_name: str | None,
) -> bytes:
    """A PEM CSR signed by ``private_key``: subject ``CN=common_name`` (empty when None), the
    names as SANs, cert-manager's default key usages."""
    subject = [] if common_name is None else [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    algorithm = None if isinstance(private_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(subject))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(DEFAULT_KEY_USAGE, critical=True)
        .sign(private_key, algorithm)
    )
    return request.public_bytes(serialization.Encoding.PEM)
