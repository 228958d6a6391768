"""Private keys as cert-manager generates them from a Certificate's ``spec.privateKey``.

Defaults are cert-manager's: RSA 2048, ECDSA P-256, PKCS#1 encoding (which means the
traditional OpenSSL form for ECDSA; Ed25519 is always PKCS#8). Anything else is a ValueError
naming the field.
"""

from __future__ import annotations

from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from controller.sandbox.stack.csr import PrivateKey
from controller.sandbox.stack.kubeapi import JSON

RSA_SIZES: Final = frozenset({2048, 3072, 4096, 8192})
CURVES: Final[dict[int, type[ec.EllipticCurve]]] = {
    256: ec.SECP256R1,
    384: ec.SECP384R1,
    521: ec.SECP521R1,
}
PRIVATE_TYPES: Final = (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)
PublicKey = CertificatePublicKeyTypes
ENCODINGS: Final = {
    "PKCS1": serialization.PrivateFormat.TraditionalOpenSSL,
    "PKCS8": serialization.PrivateFormat.PKCS8,
}


def generate(private_key_spec: JSON) -> PrivateKey:
    """A fresh key for ``spec.privateKey`` (CPU-bound: call it off the event loop)."""
    algorithm = private_key_spec.get("algorithm") or "RSA"
    size = private_key_spec.get("size")
    if algorithm == "RSA":
        size = size or 2048
        if size not in RSA_SIZES:
            raise ValueError(f"spec.privateKey.size {size} is not one of {sorted(RSA_SIZES)}")
        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    if algorithm == "ECDSA":
        size = size or 256
        if size not in CURVES:
            raise ValueError(f"spec.privateKey.size {size} is not one of {sorted(CURVES)}")
        return ec.generate_private_key(CURVES[size]())
    if algorithm == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"spec.privateKey.algorithm {algorithm!r} is not RSA, ECDSA or Ed25519")


def to_pem(key: PrivateKey, private_key_spec: JSON) -> bytes:
    encoding = private_key_spec.get("encoding") or "PKCS1"
    if encoding not in ENCODINGS:
        raise ValueError(f"spec.privateKey.encoding {encoding!r} is not PKCS1 or PKCS8")
    form = ENCODINGS[encoding]
    if isinstance(key, ed25519.Ed25519PrivateKey):
        form = serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())


def from_pem(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, PRIVATE_TYPES):
        raise ValueError(f"unsupported private key type {type(key).__name__}")
    return key


def public_der(key: PrivateKey | PublicKey) -> bytes:
    """The DER SubjectPublicKeyInfo of ``key`` (of its public half for a private key)."""
    public = key.public_key() if isinstance(key, PRIVATE_TYPES) else key
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
