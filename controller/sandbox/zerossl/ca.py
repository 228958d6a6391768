"""The emulator's certificate authority, generated at start.

Shape (like ZeroSSL's Sectigo chain): a self-signed root, an intermediate under it that signs
every leaf, and a "legacy" root that cross-signs the root. ``ca_bundle.crt`` holds the
intermediate only (the real bundle has the intermediate chain, never a self-signed root);
``include_cross_signed=1`` appends the cross-signed root. All CA keys are ECDSA P-384, so start-up
costs milliseconds and signing a leaf (RSA or ECDSA public key) is cheap.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controller.sandbox.zerossl.csr import PublicKey
from controller.sandbox.zerossl.names import is_ip

_CA_VALIDITY = timedelta(days=3650)
_SIGNATURE_ALGORITHM = "ecdsa-with-SHA384"


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A signed leaf and the facts the certificate object reports about it."""

    pem: str
    fingerprint_sha1: str
    signature_algorithm_properties: str
    not_after: datetime


@dataclass(frozen=True, slots=True)
class _Authority:
    name: x509.Name
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


class CertificateAuthority:
    """Root, intermediate and cross-signing legacy root; signs leaves for exactly the names."""

    def __init__(self, now: datetime) -> None:
        self._legacy = _authority("ZeroSSL Emulator Legacy Root", None, now)
        self._root = _authority("ZeroSSL Emulator Root CA", None, now)
        self._intermediate = _authority("ZeroSSL Emulator Domain Secure Site CA", self._root, now)
        cross = _ca_certificate(
            self._root.name,
            self._root.key.public_key(),
            self._legacy.name,
            self._legacy.key,
            now,
            path_length=None,
        )
        self.root_pem = _pem(self._root.certificate)
        self.legacy_root_pem = _pem(self._legacy.certificate)
        self.intermediate_pem = _pem(self._intermediate.certificate)
        self.cross_signed_pem = _pem(cross)

    def bundle(self, *, cross_signed: bool) -> str:
        """The ``ca_bundle.crt`` text: intermediate, plus the cross-signed root on request."""
        return self.intermediate_pem + (self.cross_signed_pem if cross_signed else "")

    def sign(
        self, public_key: PublicKey, names: Sequence[str], validity_days: int, now: datetime
    ) -> IssuedCertificate:
        """A leaf for ``public_key`` naming exactly ``names`` (CN = first name), valid from the
        start of today (UTC) for ``validity_days`` days."""
        not_before = datetime.combine(now.date(), time(), tzinfo=UTC)
        not_after = not_before + timedelta(days=validity_days, seconds=-1)
        issuer = self._intermediate
        usage_encipherment = isinstance(public_key, rsa.RSAPublicKey)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(issuer.name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(cert_sign=False, key_encipherment=usage_encipherment), critical=True
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(_authority_key_id(issuer.key), critical=False)
        )
        leaf = builder.sign(issuer.key, hashes.SHA384())
        der = leaf.public_bytes(Encoding.DER)
        return IssuedCertificate(
            pem=_pem(leaf),
            fingerprint_sha1=hashlib.sha1(der, usedforsecurity=False).hexdigest().upper(),
            signature_algorithm_properties=f"{_SIGNATURE_ALGORITHM}:{public_key.key_size}",
            not_after=not_after,
        )


def _general_name(name: str) -> x509.GeneralName:
    if is_ip(name):
        return x509.IPAddress(ipaddress.ip_address(name))
    return x509.DNSName(name)


def _key_usage(*, cert_sign: bool, key_encipherment: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_id(issuer_key: ec.EllipticCurvePrivateKey) -> x509.AuthorityKeyIdentifier:
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())


def _ca_certificate(
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer_name: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    now: datetime,
    *,
    path_length: int | None,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + _CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(cert_sign=True, key_encipherment=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(_authority_key_id(issuer_key), critical=False)
        .sign(issuer_key, hashes.SHA384())
    )


def _authority(common_name: str, issuer: _Authority | None, now: datetime) -> _Authority:
    """A CA: self-signed when ``issuer`` is None, else signed by it (path length 0)."""
    key = ec.generate_private_key(ec.SECP384R1())
    name = _ca_name(common_name)
    if issuer is None:
        certificate = _ca_certificate(name, key.public_key(), name, key, now, path_length=None)
    else:
        certificate = _ca_certificate(
            name, key.public_key(), issuer.name, issuer.key, now, path_length=0
        )
    return _Authority(name, key, certificate)


def _ca_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ZeroSSL Emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(Encoding.PEM).decode()
