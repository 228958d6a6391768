"""CSR decoding and the checks ZeroSSL applies to it, plus the CSR hashes behind validation.

Accepted keys: RSA 2048 and 4096 bits (the documented sizes) and ECDSA P-256 and P-384 (observed
to work). Everything else (RSA 1024/3072, P-521, Ed25519, DSA) is rejected, like SHA-1 and other
weak or unknown signature algorithms.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

RSA_KEY_BITS: Final = frozenset({2048, 4096})
EC_CURVES: Final = frozenset({"secp256r1", "secp384r1"})
SIGNATURE_ALGORITHMS: Final[dict[x509.ObjectIdentifier, str]] = {
    SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA512: "sha512WithRSAEncryption",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ecdsa-with-SHA256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ecdsa-with-SHA384",
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: "ecdsa-with-SHA512",
}


class CsrError(ValueError):
    """The CSR is unusable; the message says why (safe to show: a CSR holds no secret)."""


@dataclass(frozen=True, slots=True)
class Csr:
    """A decoded, signature-checked CSR with a supported key.

    ``md5``/``sha256`` are the uppercase hex digests of the DER encoding, as Sectigo's CSR-hash
    validation uses them.
    """

    md5: str
    sha256: str
    common_name: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    public_key: PublicKey
    key_bits: int
    signature_algorithm: str

    @property
    def names(self) -> tuple[str, ...]:
        """CN (when present) then the SANs, in order, without case-insensitive repeats."""
        seen: dict[str, str] = {}
        for name in (self.common_name, *self.dns_names, *self.ip_addresses):
            if name is not None:
                seen.setdefault(name.lower(), name)
        return tuple(seen.values())


def load_csr(pem: str) -> Csr:
    """Decode a PEM CSR and check its signature and key; raise :class:`CsrError` otherwise."""
    try:
        request = x509.load_pem_x509_csr(pem.strip().encode())
        extensions = request.extensions
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CsrError("The CSR cannot be decoded") from exc
    algorithm = SIGNATURE_ALGORITHMS.get(request.signature_algorithm_oid)
    if algorithm is None:
        raise CsrError(
            f"unsupported signature algorithm {request.signature_algorithm_oid.dotted_string}"
        )
    if not request.is_signature_valid:
        raise CsrError("the CSR signature does not verify")
    public_key, bits = _checked_key(request)
    common_names = request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(common_names[0].value) if common_names else None
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        dns_names: tuple[str, ...] = ()
        ips: tuple[str, ...] = ()
    else:
        dns_names = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    der = request.public_bytes(Encoding.DER)
    return Csr(
        md5=hashlib.md5(der, usedforsecurity=False).hexdigest().upper(),
        sha256=hashlib.sha256(der).hexdigest().upper(),
        common_name=common_name or None,
        dns_names=dns_names,
        ip_addresses=ips,
        public_key=public_key,
        key_bits=bits,
        signature_algorithm=algorithm,
    )


def _checked_key(request: x509.CertificateSigningRequest) -> tuple[PublicKey, int]:
    key = request.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size not in RSA_KEY_BITS:
            raise CsrError(f"RSA key size {key.key_size} is not supported (2048 or 4096)")
        return key, key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_CURVES:
            raise CsrError(f"EC curve {key.curve.name} is not supported (P-256 or P-384)")
        return key, key.key_size
    raise CsrError(f"key type {type(key).__name__} is not supported (RSA or ECDSA)")
