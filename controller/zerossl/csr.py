"""CSR helpers: what ZeroSSL will accept, the domain list it wants, and the CSR-hash values.

Invariants:
- :func:`inspect_csr` either returns a :class:`CsrInfo` ZeroSSL can issue for, or raises
  :class:`CsrError`, which is always permanent: the same CSR will never work.
- Domains are in ZeroSSL order: the common name first (ZeroSSL requires the first domain to
  equal the CN, 2836), then the remaining SANs (DNS names and IPv4 addresses) in CSR order,
  without case-insensitive repeats (duplicates are error 2811). A common name is required:
  ZeroSSL answered CN-less CSRs with 2836, so cert-manager Certificates need ``commonName``.
- Hashes are over the DER of the CSR exactly as sent (``CsrInfo.pem`` re-encodes the parsed
  DER), uppercase hex, as Sectigo's CSR-hash validation computes them: the file is
  ``/.well-known/pki-validation/<MD5>.txt`` and the CNAME name ``_<MD5>.<domain>``
  (:class:`~controller.zerossl.csrhashes.CsrHashes`).
- This module loads cryptography: import it where a CSR or certificate is read, not earlier
  (a controller with nothing to issue never needs it).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from controller.zerossl.csrhashes import CsrHashes

RSA_SIZES = frozenset({2048, 4096})
EC_CURVES = {ec.SECP256R1.name: "P-256", ec.SECP384R1.name: "P-384"}
MAX_NAME_LENGTH = 64  # X.509 ub-common-name; ZeroSSL fails longer names (2823, "~62")

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DNS_NAME = re.compile(rf"^(\*\.)?(?:{_LABEL}\.)+{_LABEL}$")


class CsrError(ValueError):
    """The CSR can never be issued by ZeroSSL as it is. ``reason`` is a stable slug."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CsrInfo:
    """A CSR ZeroSSL can issue for, with everything the issuer needs from it."""

    pem: str
    common_name: str
    domains: tuple[str, ...]
    key: str  # e.g. "RSA 2048", "ECDSA P-256"
    hashes: CsrHashes

    @property
    def is_wildcard(self) -> bool:
        return self.common_name.startswith("*.")


def parse_csr(pem: bytes | str) -> x509.CertificateSigningRequest:
    """Loads a PEM CSR and verifies its self-signature. Verified CSRs are remembered (bounded):
    the same request is decided several times, and the signature check dominates."""
    return _verified_csr(pem.encode() if isinstance(pem, str) else pem)


@functools.lru_cache(maxsize=1024)
def _verified_csr(data: bytes) -> x509.CertificateSigningRequest:
    if b"-----BEGIN" not in data:
        raise CsrError("malformed", "the request is not a PEM certificate signing request")
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError as exc:
        raise CsrError("malformed", f"the CSR cannot be decoded: {exc}") from None
    try:
        valid = csr.is_signature_valid
    except (InvalidSignature, UnsupportedAlgorithm, ValueError) as exc:
        raise CsrError("bad_signature", f"the CSR signature cannot be checked: {exc}") from None
    if not valid:
        raise CsrError("bad_signature", "the CSR signature does not match its public key")
    return csr


def key_description(csr: x509.CertificateSigningRequest) -> str:
    """ "RSA 2048" … for the key types ZeroSSL accepts; CsrError for anything else."""
    try:
        key = csr.public_key()
    except (UnsupportedAlgorithm, ValueError) as exc:
        raise CsrError("unsupported_key", f"the CSR public key is not supported: {exc}") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size in RSA_SIZES:
            return f"RSA {key.key_size}"
        raise CsrError(
            "unsupported_key",
            f"RSA {key.key_size}-bit keys are not accepted by ZeroSSL; use 2048 or 4096 bits",
        )
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name in EC_CURVES:
            return f"ECDSA {EC_CURVES[key.curve.name]}"
        raise CsrError(
            "unsupported_key",
            f"ECDSA curve {key.curve.name} is not accepted by ZeroSSL; use P-256 or P-384",
        )
    raise CsrError(
        "unsupported_key",
        f"{type(key).__name__.removesuffix('PublicKey') or 'this'} keys are not accepted by "
        "ZeroSSL; use RSA 2048/4096 or ECDSA P-256/P-384",
    )


def csr_common_name(csr: x509.CertificateSigningRequest) -> str:
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise CsrError(
            "missing_common_name",
            "the CSR has no common name; ZeroSSL needs the first domain as the common name "
            "(set commonName on the Certificate)",
        )
    if len(names) > 1:
        raise CsrError("multiple_common_names", "the CSR has more than one common name")
    value = names[0].value
    return value.decode() if isinstance(value, bytes) else value


def _subject_alt_names(csr: x509.CertificateSigningRequest) -> list[str]:
    try:
        extension = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    names: list[str] = []
    for general_name in extension.value:
        if isinstance(general_name, x509.DNSName):
            names.append(general_name.value)
        elif isinstance(general_name, x509.IPAddress):
            names.append(str(general_name.value))
        else:
            raise CsrError("unsupported_san", _unsupported_san(general_name))
    return names


_SAN_KINDS: dict[type[x509.GeneralName], str] = {
    x509.RFC822Name: "email address",
    x509.UniformResourceIdentifier: "URI",
    x509.DirectoryName: "directory name",
    x509.RegisteredID: "registered ID",
    x509.OtherName: "other name",
}


def _unsupported_san(general_name: x509.GeneralName) -> str:
    """What the user wrote, in their terms: "email address SANs are not supported: a@b"."""
    kind = _SAN_KINDS.get(type(general_name), type(general_name).__name__)
    match general_name:
        case x509.DirectoryName(value=directory):
            shown = directory.rfc4514_string()
        case x509.RegisteredID(value=oid):
            shown = oid.dotted_string
        case x509.OtherName(type_id=oid):
            shown = oid.dotted_string
        case _:
            shown = str(general_name.value)
    return (
        f"{kind} SANs are not supported: {shown}; ZeroSSL certifies only DNS names and "
        "IPv4 addresses"
    )


def _punycode(name: str) -> str | None:
    """The xn-- (A-label) form of an internationalized name; None if it has none."""
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def _check_name(name: str) -> None:
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if isinstance(address, ipaddress.IPv6Address):
        raise CsrError("ipv6", f"{name}: ZeroSSL does not issue for IPv6 addresses (2843)")
    if len(name) > MAX_NAME_LENGTH:
        raise CsrError(
            "name_too_long", f"{name}: longer than {MAX_NAME_LENGTH} characters (ZeroSSL 2823)"
        )
    if address is None and not name.isascii() and (ascii_form := _punycode(name)):
        raise CsrError(
            "internationalized_name",
            f"{name}: internationalized names must be written in their xn-- (punycode) form: "
            f"use {ascii_form} in the Certificate",
        )
    if address is None and not _DNS_NAME.match(name):
        raise CsrError("invalid_name", f'"{name}" is not a valid DNS name or IPv4 address')


def zerossl_domains(csr: x509.CertificateSigningRequest) -> tuple[str, ...]:
    """The ``certificate_domains`` list: CN first, then unique SANs; CsrError if unusable."""
    common_name = csr_common_name(csr)
    seen: dict[str, str] = {}
    for name in (common_name, *_subject_alt_names(csr)):
        _check_name(name)
        seen.setdefault(name.lower(), name)
    domains = tuple(seen.values())
    wildcards = [d for d in domains if d.startswith("*.")]
    if wildcards and len(domains) > 1:
        raise CsrError(
            "wildcard_not_alone",
            f"{wildcards[0]}: a wildcard must be the only name in a ZeroSSL certificate "
            f"(2809), but the CSR has {len(domains)}",
        )
    return domains


def csr_hashes(csr: x509.CertificateSigningRequest) -> CsrHashes:
    der = csr.public_bytes(Encoding.DER)
    return CsrHashes(
        md5=hashlib.md5(der, usedforsecurity=False).hexdigest().upper(),
        sha256=hashlib.sha256(der).hexdigest().upper(),
    )


def inspect_csr(pem: bytes | str) -> CsrInfo:
    """Parses, verifies and checks a CSR for ZeroSSL; raises CsrError (permanent)."""
    csr = parse_csr(pem)
    key = key_description(csr)
    domains = zerossl_domains(csr)
    return CsrInfo(
        pem=csr.public_bytes(Encoding.PEM).decode(),
        common_name=domains[0],
        domains=domains,
        key=key,
        hashes=csr_hashes(csr),
    )


def san_names(pem: bytes | str) -> list[str]:
    """The DNS names and IP addresses among the CSR's subject alternative names."""
    csr = parse_csr(pem)
    try:
        extension = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [
        *extension.value.get_values_for_type(x509.DNSName),
        *(str(ip) for ip in extension.value.get_values_for_type(x509.IPAddress)),
    ]


def leaf_matches_csr(chain_pem: str, csr_pem: bytes) -> bool:
    """True if the chain's first certificate carries the CSR's public key; an unreadable chain
    or CSR does not match."""
    try:
        leaf = x509.load_pem_x509_certificates(chain_pem.encode())[0]
        csr = parse_csr(csr_pem)
    except (ValueError, IndexError, CsrError):
        return False
    return _public_key_der(leaf) == _public_key_der(csr)


def _public_key_der(key: x509.Certificate | x509.CertificateSigningRequest) -> bytes:
    return key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
